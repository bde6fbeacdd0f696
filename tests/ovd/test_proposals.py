"""Base-class RPN: trains through tools/train.py, is evaluated per split, and writes a proposal store."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, STUDENT_CFG, as_argv, data_options, load_tool
from densekd.ovd.feature_store import FeatureStore
from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL, SHAPES_BASE, SHAPES_NOVEL, write_ov_coco

RPN_CFG = "configs/demo/rpn_shapes_base.py"
COCO_RPN_CFG = "configs/ovd/rpn_r50_fpn_coco_base.py"
generate = load_tool("generate_proposals")


@pytest.fixture(scope="module")
def ov_root(shapes_root, tmp_path_factory):
    """The tiny shapes set with its open-vocabulary annotation files (images linked, not copied)."""
    root = tmp_path_factory.mktemp("shapes_ov")
    for split in ("train", "val"):
        os.symlink(os.path.join(shapes_root, split), root / split)
    source, out = os.path.join(shapes_root, "annotations"), root / "annotations"
    write_ov_coco(os.path.join(source, "instances_train.json"), str(out / "instances_train.base.json"),
                  SHAPES_BASE, SHAPES_NOVEL, "train")
    write_ov_coco(os.path.join(source, "instances_val.json"), str(out / "instances_val.ov.json"),
                  SHAPES_BASE, SHAPES_NOVEL, "ov")
    return str(root)


def rpn_options(root, iters=2):
    ann = os.path.join(root, "annotations", "instances_val.ov.json")
    return data_options(root, iters, **{"val_evaluator.ann_file": ann, "test_evaluator.ann_file": ann})


def data_argv(root):
    """Only the data paths (what generate_proposals needs)."""
    return as_argv({f"{s}_dataloader.dataset.data_root": root for s in ("train", "val", "test")})


@pytest.fixture(scope="module")
def trained_rpn(ov_root, tmp_path_factory):
    """Two iterations of the demo RPN on base boxes, through tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp("rpn"))
    trainer = load_tool("train").main([RPN_CFG, "--work-dir", work_dir, "--accelerator", "cpu",
                                       *as_argv(rpn_options(ov_root))])
    assert trainer.global_step == 2
    return os.path.join(work_dir, "last.ckpt")


def coco(root, name):
    with open(os.path.join(root, "annotations", name)) as f:
        return json.load(f)


def test_demo_config_names_the_splits_of_densekd():
    from densekd.core.config import load_config

    cfg = load_config(RPN_CFG)
    assert cfg.base_classes == SHAPES_BASE and cfg.novel_classes == SHAPES_NOVEL
    assert cfg.model.type == "RPN" and cfg.model.rpn_head.num_classes == 1
    assert cfg.train_dataloader.dataset.metainfo.classes == SHAPES_BASE
    assert cfg.test_dataloader.dataset.metainfo.classes == SHAPES_BASE + SHAPES_NOVEL
    assert cfg.train_cfg.best_metric.startswith("proposal/base_")  # never chosen on novel recall


def test_coco_config_builds_a_base_class_rpn_and_says_how_to_prepare_the_data(tmp_path):
    from densekd.core.config import load_config
    from densekd.core.data import DataModule
    from densekd.core.registry import build

    cfg = load_config(COCO_RPN_CFG)
    assert cfg.base_classes == OV_COCO_BASE and cfg.novel_classes == OV_COCO_NOVEL
    assert cfg.train_dataloader.dataset.ann_file.endswith("instances_train2017.48.json")
    assert cfg.test_dataloader.dataset.ann_file.endswith("instances_val2017.65.json")
    assert type(build(cfg.model)).__name__ == "RPN"
    cfg.merge_from_dict({"train_dataloader.dataset.data_root": str(tmp_path / "coco")})
    with pytest.raises(FileNotFoundError, match="tools/prepare_ov_coco.py --dataset coco"):
        DataModule(cfg, splits=("train",))


def test_rpn_checkpoint_and_recall_per_split(trained_rpn, ov_root, tmp_path):
    state = torch.load(trained_rpn, map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.startswith("student.bbox_head.rpn_cls") for k in state)
    metrics = load_tool("test").main([RPN_CFG, trained_rpn, "--work-dir", str(tmp_path), "--accelerator",
                                      "cpu", *as_argv(rpn_options(ov_root))])
    for split in ("base", "novel", "all"):
        for name in ("R50@100", "AR@100", "R50@300"):
            assert 0.0 <= metrics[f"proposal/{split}_{name}"] <= 1.0


def test_proposal_recall_counts_each_box_against_the_top_proposals(tmp_path):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from densekd.ovd.proposal_recall import ProposalRecall

    ann = dict(images=[dict(id=1, width=100, height=100)], categories=[
        dict(id=1, name="a", split="base"), dict(id=2, name="b", split="novel")], annotations=[
        dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 10, 10], iscrowd=0),
        dict(id=2, image_id=1, category_id=2, bbox=[50, 50, 20, 20], iscrowd=0),
        dict(id=3, image_id=1, category_id=2, bbox=[0, 50, 20, 20], iscrowd=1)])  # crowd: ignored
    path = tmp_path / "ov.json"
    path.write_text(json.dumps(ann))
    metric = ProposalRecall(str(path), proposal_nums=(1, 2))
    sample = DetDataSample(metainfo=dict(img_id=1))
    sample.pred_instances = InstanceData(bboxes=torch.tensor([[50., 50, 70, 70], [0, 0, 10, 12]]),
                                         scores=torch.tensor([0.9, 0.8]))
    metric.process({}, [sample.to_dict()])
    result = metric.compute_metrics(metric.results)
    assert result["novel_R50@1"] == 1.0 and result["base_R50@1"] == 0.0  # top-1 covers the novel box
    assert result["base_R50@2"] == 1.0 and result["all_R50@2"] == 1.0
    assert result["base_AR@2"] == pytest.approx(np.mean(np.arange(0.5, 0.951, 0.05) <= 10 / 12 + 1e-6))


def check_store(out, root, ann_name, topk):
    store = FeatureStore(out)
    images = {im["id"]: im for im in coco(root, ann_name)["images"]}
    assert sorted(store.image_ids()) == sorted(images) and store.complete
    for image_id in store.image_ids():
        item = store.get(image_id)
        boxes, objectness = item["boxes"], item["objectness"]
        assert set(item) == {"boxes", "objectness"}
        assert boxes.dtype == objectness.dtype == torch.float32
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and 0 < len(boxes) <= topk
        assert objectness.shape == (len(boxes),)
        assert torch.all(objectness[:-1] >= objectness[1:])  # sorted, best first
        w, h = images[image_id]["width"], images[image_id]["height"]
        assert boxes.min() >= 0 and torch.all(boxes[:, 2] <= w) and torch.all(boxes[:, 3] <= h)
        assert torch.all(boxes[:, 2] >= boxes[:, 0]) and torch.all(boxes[:, 3] >= boxes[:, 1])
    return store


def test_generate_proposals_for_train_and_val_and_resume_is_a_no_op(trained_rpn, ov_root, tmp_path, capsys):
    val_out = str(tmp_path / "val")
    argv = [RPN_CFG, trained_rpn, "--split", "val", "--out", val_out, "--topk", "20", "--accelerator", "cpu",
            "--shard-size", "3", *data_argv(ov_root)]
    summary = generate.main(argv)
    assert "proposals/image" in capsys.readouterr().out
    store = check_store(val_out, ov_root, "instances_val.ov.json", 20)
    assert store.metadata["split"] == "val" and store.metadata["topk"] == "20"
    assert summary["bytes"] == sum(os.path.getsize(os.path.join(val_out, n))
                                   for n in os.listdir(val_out) if n.endswith(".safetensors"))
    again = generate.main(argv)
    assert again["new_images"] == 0 and again["images"] == summary["images"]
    with pytest.raises(ValueError, match="other metadata .*topk.*--overwrite"):
        generate.main(argv[:6] + ["--topk", "10"] + argv[8:])

    train_out = str(tmp_path / "train")
    generate.main([RPN_CFG, trained_rpn, "--split", "train", "--out", train_out, "--topk", "20",
                   "--accelerator", "cpu", *data_argv(ov_root)])
    check_store(train_out, ov_root, "instances_train.base.json", 20)


def test_native_state_dict_and_two_worker_processes_give_the_same_proposals(ov_root, tmp_path):
    from densekd.core.config import load_config
    from densekd.core.registry import build

    torch.manual_seed(0)
    ckpt = str(tmp_path / "rpn.pth")
    torch.save({"state_dict": build(load_config(RPN_CFG).model).state_dict()}, ckpt)
    common = [RPN_CFG, ckpt, "--split", "val", "--topk", "30", "--accelerator", "cpu",
              "--shard-size", "2", *data_argv(ov_root)]
    # Float results depend on the thread count: one thread here, and one in each of the two
    # workers (a 2-thread parent splits its threads between them).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = generate.main(common + ["--out", str(tmp_path / "one")])
    finally:
        torch.set_num_threads(threads)
    done = subprocess.run([sys.executable, "tools/generate_proposals.py", *common,
                           "--out", str(tmp_path / "two"), "--devices", "2"], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = FeatureStore(str(tmp_path / "one")), FeatureStore(str(tmp_path / "two"))
    assert a.image_ids() == b.image_ids() and one["images"] == len(b)
    for image_id in a.image_ids():
        for field, value in a.get(image_id).items():
            assert torch.equal(value, b.get(image_id)[field])


def test_a_detector_that_is_not_an_rpn_is_refused(ov_root, tmp_path, shapes_root):
    with pytest.raises(ValueError, match="builds a 'FasterRCNN', not an 'RPN'"):
        generate.main([STUDENT_CFG, "unused.ckpt", "--split", "val", "--out", str(tmp_path),
                       *as_argv({"val_dataloader.dataset.data_root": shapes_root,
                                 "test_dataloader.dataset.data_root": shapes_root})])

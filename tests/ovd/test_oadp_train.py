"""OADP end to end on generated data: the demo config and configs/oadp_coco.py itself train for 2
iterations from a CLIP feature cache, test with the OV metric, export to a plain mmdet model; the
no-data message; online teacher == cache."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, as_argv, data_options, load_tool
from densekd.core.config import load_config
from densekd.core.grad_shares import read_grad_shares
from densekd.ovd.feature_store import write_store
from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL
from densekd.ovd.teacher_features import CLIPTargetTeacher, split_images

OADP_DEMO = "configs/demo/oadp_shapes.py"
OADP_COCO = "configs/oadp_coco.py"


def random_proposals(device, count=8, size=150):
    def proposals(image_id):
        g = torch.Generator().manual_seed(image_id)
        xy = torch.rand(count, 2, generator=g) * size * 0.7
        wh = torch.rand(count, 2, generator=g) * size * 0.3 + 8
        return {"boxes": torch.cat([xy, xy + wh], dim=1), "objectness": torch.rand(count, generator=g)}
    return proposals


def teacher_side(tmp, tiny_clip_cfg, ann, prefix, vocabulary, size=150):
    """Text embeddings, a proposal store and a CLIP feature cache for one split, from the tiny CLIP."""
    clip_cfg = tmp / "clip.py"
    clip_cfg.write_text(f"clip_teacher = dict(model_name={tiny_clip_cfg['model_name']!r}, "
                        f"model_config_file={tiny_clip_cfg['model_config_file']!r}, "
                        "expand_ratio=2.0, object_stride_divisor=1)\n")
    torch.manual_seed(0)  # the tiny CLIP has random weights: same seed, same teacher everywhere
    text = str(tmp / "text.safetensors")
    load_tool("build_text_embeddings").main(["--teacher", str(clip_cfg), "--vocabulary", vocabulary, "--out", text])
    image_ids = sorted(split_images(ann, prefix))
    write_store(str(tmp / "proposals"), image_ids, lambda d: random_proposals(d, size=size),
                metadata={"kind": "proposals"}, shard_size=4)
    features_cfg = tmp / "features.py"
    features_cfg.write_text(
        f"_base_ = [{str(clip_cfg)!r}]\n"
        f"clip_features = dict(splits=dict(train=dict(ann_file={ann!r}, img_prefix={prefix!r}, "
        f"proposals={str(tmp / 'proposals')!r}, out={str(tmp / 'features')!r})), "
        "max_proposals=8, dtype='float16', shard_size=4)\n")
    torch.manual_seed(0)
    load_tool("extract_clip_features").main([str(features_cfg), "--split", "train"])
    return dict(text=text, cache=str(tmp / "features"), proposals=str(tmp / "proposals"), clip_cfg=str(clip_cfg))


@pytest.fixture(scope="module")
def ov_shapes(shapes_root, tiny_clip_cfg, tmp_path_factory):
    """The tiny shapes set with its OV split, and the OADP demo's teacher side from the tiny CLIP."""
    tmp = tmp_path_factory.mktemp("oadp_shapes")
    shapes_root = shutil.copytree(shapes_root, str(tmp / "shapes"))  # the OV files stay out of the shared set
    load_tool("prepare_ov_coco").main(["--dataset", "shapes", "--data-root", shapes_root])
    ann = os.path.join(shapes_root, "annotations", "instances_train.base.json")
    side = teacher_side(tmp, tiny_clip_cfg, ann, os.path.join(shapes_root, "train") + os.sep, "shapes")
    val_ann = os.path.join(shapes_root, "annotations", "instances_val.ov.json")
    options = data_options(shapes_root, **{
        "val_evaluator.ann_file": val_ann, "test_evaluator.ann_file": val_ann,
        "model.roi_head.vocabulary.text_embeddings": side["text"], "teacher.model.cache": side["cache"],
        "load_from": None})  # the demo's base-class pretraining is not made here
    return dict(side, options=options, root=shapes_root, tmp=tmp)


@pytest.fixture(scope="module")
def oadp_run(ov_shapes):
    work_dir = str(ov_shapes["tmp"] / "run")
    load_tool("train").main([OADP_DEMO, "--work-dir", work_dir, *as_argv(ov_shapes["options"])])
    return work_dir


def test_oadp_demo_trains_and_reports_ov_ap50(oadp_run, ov_shapes):
    ckpt = torch.load(os.path.join(oadp_run, "last.ckpt"), map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    state = ckpt["state_dict"]
    assert any(k.startswith("student.roi_head.block_head.") for k in state)
    assert not any(k.startswith("teacher.") for k in state)
    options = {k: v for k, v in ov_shapes["options"].items() if k != "teacher.model.cache"}
    metrics = load_tool("test").main([OADP_DEMO, os.path.join(oadp_run, "last.ckpt"), "--work-dir", oadp_run,
                                      *as_argv(options)])
    for key in ("ov/AP50_novel", "ov/AP50_base", "ov/AP50_all", "coco/bbox_mAP"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    with open(os.path.join(oadp_run, "metrics.json")) as f:
        assert json.load(f)["ov/AP50_novel"] == metrics["ov/AP50_novel"]


def test_oadp_demo_logs_each_pyramid_loss_gradient_share_at_the_fpn_levels(oadp_run):
    # the branches are off the task's path; the FPN levels are where both gradients meet
    shares = read_grad_shares(oadp_run)
    assert {loss for loss, _ in shares} == {"loss_object", "loss_block", "loss_block_relation", "loss_block_multilabel",
                                            "loss_global", "loss_global_multilabel"}
    assert {feature for _, feature in shares} <= {f"neck[{i}]" for i in range(5)}
    deepest = max(feature for _, feature in shares)
    assert {feature for loss, feature in shares if loss == "loss_global"} == {deepest}  # it pools the last level


def test_a_training_step_yields_every_pyramid_loss(ov_shapes):
    from densekd import DistillModule
    from densekd.core.data import DataModule

    cfg = load_config(OADP_DEMO, ov_shapes["options"])
    module = DistillModule.from_config(cfg, init_weights=True)
    datamodule = DataModule(cfg, splits=("train",))
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    data = module.student.data_preprocessor(batch, training=True)
    with torch.no_grad(), module.teacher_recorder:
        module._run_teacher(data["inputs"], data["data_samples"])
    with module.student_recorder:
        module.student.loss(data["inputs"], data["data_samples"])
    losses = module.distiller(module.student_recorder.records, {}, data, step=10_000)
    assert set(losses) == {"loss_object", "loss_block", "loss_block_relation", "loss_block_multilabel",
                           "loss_global", "loss_global_multilabel"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values()), losses
    sum(losses.values()).backward()
    grad = module.student.roi_head.object_head.fc_cls.project.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # the object branch learns from the pyramid
    assert module.student.roi_head.bbox_head.fc_cls.embeddings.grad is None  # text embeddings stay fixed


def test_online_teacher_attaches_what_the_cache_holds(ov_shapes, tiny_clip_cfg):
    from densekd.core.data import DataModule

    cfg = load_config(OADP_DEMO, ov_shapes["options"])
    datamodule = DataModule(cfg, splits=("train",))
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    cached = CLIPTargetTeacher(cache=ov_shapes["cache"])
    torch.manual_seed(0)
    clip = dict(tiny_clip_cfg, expand_ratio=2.0, object_stride_divisor=1)
    online = CLIPTargetTeacher(online=dict(clip_teacher=clip, proposals=ov_shapes["proposals"], max_proposals=8))
    a = cached(torch.zeros(1), [s.clone() for s in batch["data_samples"]])
    b = online(torch.zeros(1), [s.clone() for s in batch["data_samples"]])
    for x, y in zip(a, b):
        assert x.metainfo.get("flip") == y.metainfo.get("flip")
        for key in ("object_boxes", "block_boxes"):
            assert torch.allclose(x.clip_targets[key], y.clip_targets[key])
        for key in ("objects", "blocks", "global"):
            assert torch.allclose(x.clip_targets[key], y.clip_targets[key], atol=2e-3)


def test_exported_oadp_student_loads_with_init_detector(oadp_run, ov_shapes, tmp_path):
    out = tmp_path / "export"
    exporter = load_tool("export_student")
    cfg_path = tmp_path / "oadp.py"  # the demo config pointed at the test's text embeddings
    load_config(OADP_DEMO, ov_shapes["options"]).dump(str(cfg_path))
    exporter.main([str(cfg_path), os.path.join(oadp_run, "last.ckpt"), str(out)])
    image = os.path.join(ov_shapes["root"], "val", "000000.jpg")
    script = f"""
import torch
from mmdet.apis import init_detector, inference_detector
model = init_detector({str(out / 'student_config.py')!r}, {str(out / 'student.pth')!r}, device='cpu')
saved = torch.load({str(out / 'student.pth')!r}, weights_only=True)['state_dict']
assert set(model.state_dict()) == set(saved)
assert not any('block_head' in k or 'global_head' in k for k in saved), 'distillation-only branches exported'
assert model.roi_head.object_head is not None and model.roi_head.block_head is None
result = inference_detector(model, {image!r})
boxes = result.pred_instances.bboxes
assert boxes.shape[-1] == 4 and len(boxes) > 0
print('boxes', len(boxes), 'labels', sorted(set(result.pred_instances.labels.tolist()))[:5])
"""
    moved = tmp_path / "elsewhere"
    moved.mkdir()  # run outside the repository: the text embeddings travel with the export
    done = subprocess.run([sys.executable, "-c", script], cwd=str(moved), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "boxes" in done.stdout
    assert os.path.isfile(out / "text.safetensors")


# --- configs/oadp_coco.py itself ----------------------------------------------------------------
def write_tiny_coco(root, splits=(("train2017", 4), ("val2017", 2)), size=(96, 72)):
    """A COCO-2017-shaped tree: noise images with boxes of base and novel COCO classes."""
    names = list(OV_COCO_BASE) + list(OV_COCO_NOVEL)
    categories = [{"id": i + 1, "name": n, "supercategory": "thing"} for i, n in enumerate(names)]
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    ann_id = 1
    for split, count in splits:
        os.makedirs(os.path.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            image_id = 1000 * (split == "val2017") + i + 1
            name = f"{image_id:012d}.jpg"
            Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
                os.path.join(root, split, name))
            images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
            for category in (1, 3, 49 + i % 17):  # person, car and one novel class
                x, y = rng.integers(0, 40), rng.integers(0, 30)
                annotations.append({"id": ann_id, "image_id": image_id, "category_id": int(category),
                                    "bbox": [int(x), int(y), 30, 25], "area": 750, "iscrowd": 0})
                ann_id += 1
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


def test_oadp_coco_config_trains_two_iterations_on_a_tiny_coco_tree(tiny_clip_cfg, tmp_path):
    root = str(tmp_path / "coco")
    write_tiny_coco(root)
    load_tool("prepare_ov_coco").main(["--dataset", "coco", "--data-root", root])
    ann = os.path.join(root, "annotations", "instances_train2017.48.json")
    side = teacher_side(tmp_path, tiny_clip_cfg, ann, os.path.join(root, "train2017") + os.sep, "ov_coco", size=70)
    val_ann = os.path.join(root, "annotations", "instances_val2017.65.json")
    width = 8  # shrink the R50-FPN student to run on 2 CPU cores
    options = {
        "train_dataloader.dataset.data_root": root, "val_dataloader.dataset.data_root": root,
        "test_dataloader.dataset.data_root": root, "val_evaluator.ann_file": val_ann,
        "test_evaluator.ann_file": val_ann,
        "train_dataloader.num_workers": 0, "val_dataloader.num_workers": 0, "test_dataloader.num_workers": 0,
        "train_dataloader.dataset.pipeline.2.scales": "[(128,96),(128,80)]",
        "train_dataloader.dataset.filter_cfg.min_size": 4,
        "model.backbone.init_cfg": None, "+model.backbone.base_channels": width,
        "model.backbone.depth": 18, "model.backbone.frozen_stages": -1,
        "model.neck.in_channels": f"[{width},{2 * width},{4 * width},{8 * width}]", "model.neck.out_channels": 16,
        "model.rpn_head.in_channels": 16, "model.rpn_head.feat_channels": 16,
        "model.roi_head.bbox_roi_extractor.out_channels": 16, "model.roi_head.bbox_head.in_channels": 16,
        "+model.roi_head.bbox_head.conv_out_channels": 16, "model.roi_head.bbox_head.fc_out_channels": 32,
        "+model.roi_head.object_head.fc_out_channels": 32, "+model.roi_head.block_head.fc_out_channels": 32,
        "model.roi_head.vocabulary.text_embeddings": side["text"], "teacher.model.cache": side["cache"],
        "train_cfg.max_iters": 2, "train_cfg.val_interval": 1000, "train_cfg.checkpoint_interval": 1000,
        "lr_schedule.warmup_iters": 0,
    }
    work_dir = str(tmp_path / "run")
    load_tool("train").main([OADP_COCO, "--work-dir", work_dir, *as_argv(options)])
    ckpt = torch.load(os.path.join(work_dir, "last.ckpt"), map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    assert ckpt["state_dict"]["student.roi_head.bbox_head.fc_cls.project.weight"].shape[0] == 32  # tiny CLIP width


def test_oadp_coco_recipe_is_the_references(tmp_path):
    """Box head, norms, scales, LR multiplier and detections per image as in OADP's OV-COCO config."""
    from torch import nn

    from densekd import DistillModule
    from densekd.ovd.text import save_text_embeddings

    names = list(OV_COCO_BASE) + list(OV_COCO_NOVEL)
    text = str(tmp_path / "text.safetensors")
    save_text_embeddings(text, torch.nn.functional.normalize(torch.randn(len(names), 16), dim=-1), names)
    cfg = load_config(OADP_COCO, {"model.roi_head.vocabulary.text_embeddings": text,
                                  "model.backbone.init_cfg": None})
    assert (cfg.model.test_cfg.rcnn.max_per_img, cfg.model.test_cfg.rcnn.score_thr) == (300, 0.0)
    assert max(cfg.val_evaluator.proposal_nums) == 1000
    assert cfg.distiller.multilabel_weights == "as_run"
    module = DistillModule.from_config(cfg, with_teacher=False)
    student, roi = module.student, module.student.roi_head
    assert type(roi.bbox_head).__name__ == type(roi.object_head).__name__ == "Shared4Conv1FCBBoxHead"
    for convs in (roi.bbox_head.shared_convs, roi.object_head.shared_convs, student.neck.fpn_convs):
        assert isinstance(convs[0].bn, nn.SyncBatchNorm)
    assert roi.bbox_head.reg_class_agnostic
    assert (roi.bbox_head.fc_cls.train_temperature, roi.bbox_head.fc_cls.test_temperature) == (0.007, 0.01)
    for classifier in (roi.object_head.fc_cls, roi.block_head.fc_cls, roi.global_head):
        assert (classifier.scale.item(), classifier.bias.item()) == (20.0, 4.0)
    optimizer = module.configure_optimizers()["optimizer"]
    lr = {id(p): group["initial_lr"] for group in optimizer.param_groups for p in group["params"]}
    assert lr[id(roi.bbox_head.fc_cls.project.weight)] == pytest.approx(0.01)  # lr_mult 0.5
    assert lr[id(roi.object_head.fc_cls.project.weight)] == pytest.approx(0.02)
    assert lr[id(student.neck.fpn_convs[0].conv.weight)] == pytest.approx(0.02)


def test_oadp_coco_without_data_names_the_path_and_the_commands(tmp_path):
    missing = str(tmp_path / "no_coco")
    done = subprocess.run(
        [sys.executable, "tools/train.py", OADP_COCO, "--work-dir", str(tmp_path / "run"), "--cfg-options",
         f"train_dataloader.dataset.data_root={missing}", f"val_dataloader.dataset.data_root={missing}",
         f"test_dataloader.dataset.data_root={missing}"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert missing in done.stderr
    assert "prepare_ov_coco.py --dataset coco" in done.stderr
    assert "build_text_embeddings.py" in done.stderr
    assert "Traceback" not in done.stderr.splitlines()[-1]
    shutil.rmtree(str(tmp_path / "run"), ignore_errors=True)

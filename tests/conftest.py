"""Shared fixtures: a tiny generated shapes dataset and the demo configs pointed at it."""
import csv
import json
import os
import shutil

import numpy as np
import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(REPO)  # configs name each other by repo-relative paths

STUDENT_CFG = "configs/demo/faster_rcnn_student_shapes.py"
TEACHER_CFG = "configs/demo/faster_rcnn_teacher_shapes.py"
MIMIC_CFG = "configs/demo/faster_rcnn_mimic_shapes.py"


@pytest.fixture
def restore_scope():
    """Put the default scope (mmdet, mmseg) back as it was after a test that switches it (densekd's default
    when there was none)."""
    from densekd.core.registry import DEFAULT_SCOPE, use_scope
    from mmengine.registry import DefaultScope

    current = DefaultScope.get_current_instance()
    yield
    use_scope(current.scope_name if current is not None else DEFAULT_SCOPE)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of small-model training runs: on a shared 2-core machine two
    threads spin against each other (2-3x slower) and these models are too small to gain from two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def street_root(tmp_path_factory):
    """Synthetic street scenes in the Cityscapes layout: 4 train, 2 val and 2 test images of 64x128."""
    from densekd.data.street_scenes import make_street_scenes

    root = tmp_path_factory.mktemp("cityscapes")
    make_street_scenes(str(root), num_train=4, num_val=2, num_test=2, size=(64, 128), seed=0)
    return str(root)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory):
    """A 15-image shapes dataset in COCO format (8 train, 4 val, 3 test)."""
    from densekd.data.shapes import make_shapes_coco

    root = tmp_path_factory.mktemp("shapes")
    make_shapes_coco(str(root), num_train=8, num_val=4, num_test=3, image_size=160, seed=0)
    return str(root)


def read_png(path):
    """(mode, array) of a PNG file."""
    from PIL import Image

    with Image.open(path) as image:
        return image.mode, np.asarray(image)


def write_png(path, array):
    """Write a uint8 array as a PNG file, making its folder."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def as_made_before_the_test_split(root, meta_name, test_paths):
    """Turn a generated demo dataset into what densekd wrote before the report split existed: ``test_paths``
    (files or folders) removed, and neither ``num_test`` nor a test summary in ``root/meta_name``."""
    for path in map(str, test_paths):
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    meta_path = os.path.join(root, meta_name)
    with open(meta_path) as f:
        meta = json.load(f)
    del meta["args"]["num_test"], meta["summary"]["test"]
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)


def quick_run_options(root, iters=2, ann_file=None, test_ann_file=None):
    """``--cfg-options`` shared by every quick test run: the loaders on ``root`` (batch 2, no workers),
    ``iters`` iterations, no validation or checkpoint on the way; ``ann_file``: the evaluators' file
    (``test_ann_file``: the test evaluator's, when it differs)."""
    options = {f"{split}_dataloader.dataset.data_root": root for split in ("train", "val", "test")}
    options.update({f"{split}_dataloader.num_workers": 0 for split in ("train", "val", "test")})
    if ann_file is not None:
        options.update({"val_evaluator.ann_file": ann_file, "test_evaluator.ann_file": test_ann_file or ann_file})
    options.update({"train_dataloader.batch_size": 2, "train_cfg.max_iters": iters,
                    "train_cfg.val_interval": 1000, "train_cfg.checkpoint_interval": 1000})
    return options


def data_options(root, iters=2, **extra):
    """``--cfg-options`` pointing a shapes config at ``root``, for ``iters`` quick iterations. The test loader
    reads the split that ``test_evaluator.ann_file`` scores (``instances_<split>[.ov].json``; default: test),
    so that a test scoring on val also reads val."""
    annotations = os.path.join(root, "annotations")
    options = quick_run_options(root, iters, os.path.join(annotations, "instances_val.json"),
                                os.path.join(annotations, "instances_test.json"))
    options["lr_schedule.warmup_iters"] = 0
    options.update(extra)
    test_ann = options["test_evaluator.ann_file"]
    split = os.path.basename(test_ann).split(".")[0].removeprefix("instances_")
    options.setdefault("test_dataloader.dataset.ann_file", test_ann)
    options.setdefault("test_dataloader.dataset.data_prefix.img", f"{split}/")
    return options


COCO_SIZE = 128  # training / test Resize scale of COCO configs in tests (the shapes images are 160x160)
STREET_IMAGE = (64, 128)  # (h, w) of the generated street scenes
CROP = (32, 64)  # (h, w) of the training crops, as mmseg's crop_size: R101-d8 at 4x8 logits
OBJECT_SAMPLE = 2  # the ObjectSample step's index in every KITTI train pipeline here


def det_options(root, iters=2, **extra):
    """``--cfg-options`` for a quick run of a COCO config on ``root``."""
    options = quick_run_options(root, iters, os.path.join(root, "annotations", "instances_val2017.json"))
    options.update({
        # mmdet's coco_detection pipelines: train 0 load, 1 annotations, 2 Resize, ...; test 0 load, 1 Resize
        "train_dataloader.dataset.pipeline.2.scale": f"({COCO_SIZE},{COCO_SIZE})",
        "val_dataloader.dataset.pipeline.1.scale": f"({COCO_SIZE},{COCO_SIZE})",
        "test_dataloader.dataset.pipeline.1.scale": f"({COCO_SIZE},{COCO_SIZE})",
        "model.backbone.init_cfg": None,
        "train_cfg.log_interval": 1,
    })
    options.update(extra)
    return options


def seg_options(root, iters=2, pretrained=False, **extra):
    """``--cfg-options`` for a quick run of a Cityscapes config on ``root``."""
    h, w = CROP
    img_h, img_w = STREET_IMAGE
    options = quick_run_options(root, iters)
    options.update({
        # mmseg's cityscapes pipeline: 0 load, 1 annotations, 2 RandomResize (x ratio_range 0.5..2),
        # 3 RandomCrop, ...
        "train_dataloader.dataset.pipeline.2.scale": f"({img_w},{img_h})",
        "train_dataloader.dataset.pipeline.3.crop_size": f"({h},{w})",
        # test pipeline: 0 load, 1 Resize, ...
        "val_dataloader.dataset.pipeline.1.scale": f"({img_w},{img_h})",
        "test_dataloader.dataset.pipeline.1.scale": f"({img_w},{img_h})",
        "model.data_preprocessor.size": f"({h},{w})",
        "train_cfg.log_interval": 1,
    })
    if not pretrained:
        options["model.pretrained"] = None
    options.update(extra)
    return options


def kitti_options(config, root, iters=2, **extra):
    """``--cfg-options`` for a quick run of ``config`` on the KITTI-layout ``root`` (KITTI's configs wrap
    the train set in a RepeatDataset, the demo's do not)."""
    train = "train_dataloader.dataset" + ("" if config.startswith("configs/demo/") else ".dataset")
    sampler = f"{train}.pipeline.{OBJECT_SAMPLE}.db_sampler"
    options = {f"{train}.data_root": root, f"{sampler}.data_root": root,
               f"{sampler}.info_path": root + "kitti_dbinfos_train.json"}
    # the demo configs test on their report split (testing/, kitti_infos_test.json), KITTI's on val
    test_infos = "kitti_infos_test.json" if config.startswith("configs/demo/") else "kitti_infos_val.json"
    for split, infos in (("val", "kitti_infos_val.json"), ("test", test_infos)):
        options.update({f"{split}_dataloader.dataset.data_root": root, f"{split}_dataloader.num_workers": 0,
                        f"{split}_evaluator.ann_file": root + infos})
    options.update({"train_dataloader.batch_size": 1, "train_dataloader.num_workers": 0,
                    "train_cfg.max_iters": iters, "train_cfg.val_interval": 1000,
                    "train_cfg.checkpoint_interval": 1000, "train_cfg.log_interval": 1})
    options.update(extra)
    # the test loader reads the frames of the infos it is given: the report split's in testing/, any other in training/
    test_ann = options.get("test_dataloader.dataset.ann_file", test_infos)
    folder = "testing" if os.path.basename(test_ann) == "kitti_infos_test.json" else "training"
    options["test_dataloader.dataset.data_prefix.pts"] = f"{folder}/velodyne_reduced"
    return options


def as_argv(options):
    """``{'a.b': 1}`` -> ``['--cfg-options', 'a.b=1']``."""
    return ["--cfg-options", *[f"{k}={v}" for k, v in options.items()]] if options else []


def parsed(options):
    """``options`` as the command lines parse them (``'(128,128)'`` -> ``(128, 128)``)."""
    import argparse

    from densekd.core.config import DictAction

    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    return parser.parse_args(as_argv(options)).cfg_options


@pytest.fixture(scope="session")
def coco_root(shapes_root, tmp_path_factory):
    """``shapes_root`` in the COCO 2017 layout, its categories renamed to the first COCO classes."""
    from mmdet.datasets import CocoDataset

    coco_classes = CocoDataset.METAINFO["classes"]
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    for split in ("train", "val"):
        shutil.copytree(os.path.join(shapes_root, split), root / f"{split}2017")
        with open(os.path.join(shapes_root, "annotations", f"instances_{split}.json")) as f:
            coco = json.load(f)
        # in id order, so that mmdet's cat2label (position among the names found) is the COCO label
        coco["categories"] = sorted(coco["categories"], key=lambda c: c["id"])
        for index, category in enumerate(coco["categories"]):
            category.update(name=coco_classes[index], supercategory="coco")
        with open(root / "annotations" / f"instances_{split}2017.json", "w") as f:
            json.dump(coco, f)
    return str(root)


@pytest.fixture(scope="session")
def teacher_ckpt(tmp_path_factory):
    """A (randomly initialised) demo teacher saved as a native state-dict checkpoint."""
    from densekd.core.config import load_config
    from densekd.core.registry import build, use_scope

    torch.manual_seed(0)
    cfg = load_config(TEACHER_CFG)
    use_scope(cfg)  # whatever library an earlier test left current
    teacher = build(cfg.model)
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    torch.save({"state_dict": teacher.state_dict()}, path)
    return str(path)


def load_tool(name):
    """Import ``tools/<name>.py`` as a module (``tools/test.py`` would clash with stdlib ``test``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"densekd_tool_{name}", os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_cfg(tmp_path_factory):
    """``ObjectAwareCLIP`` keyword arguments for the tiny test CLIP (random weights)."""
    path = tmp_path_factory.mktemp("clip") / "densekd-test-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    return dict(model_name="densekd-test-tiny-clip", model_config_file=str(path))


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_cfg):
    from densekd.ovd.clip_teacher import ObjectAwareCLIP

    torch.manual_seed(0)
    return ObjectAwareCLIP(**tiny_clip_cfg)


@pytest.fixture(scope="session")
def kitti_root(tmp_path_factory):
    """Synthetic LiDAR scenes in the KITTI layout, prepared for mmdet3d: 4 train, 20 val and 20 test frames
    (over 40 moderate cars each: fewer would cap a perfect AP40 below 100, see test_det3d_configs)."""
    from densekd.data.kitti import prepare_kitti
    from densekd.data.lidar_scenes import make_lidar_scenes

    root = tmp_path_factory.mktemp("kitti")
    make_lidar_scenes(str(root), num_train=4, num_val=20, num_test=20, seed=0)
    prepare_kitti(str(root))
    return str(root) + "/"


def write_training_log(work_dir, rows, version=0):
    """Write ``rows`` (dicts with a ``step``) as a Lightning CSV log, ``work_dir/logs/version_<version>/metrics.csv``."""
    folder = os.path.join(work_dir, "logs", f"version_{version}")
    os.makedirs(folder)
    columns = sorted({c for row in rows for c in row})
    with open(os.path.join(folder, "metrics.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

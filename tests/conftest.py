"""Shared fixtures: a tiny generated shapes dataset and the demo configs pointed at it."""
import json
import os
import shutil

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(REPO)  # configs name each other by repo-relative paths

STUDENT_CFG = "configs/demo/faster_rcnn_student_shapes.py"
TEACHER_CFG = "configs/demo/faster_rcnn_teacher_shapes.py"
MIMIC_CFG = "configs/demo/faster_rcnn_mimic_shapes.py"


@pytest.fixture
def restore_scope():
    """Put the default scope (mmdet, mmseg) back as it was after a test that switches it."""
    from densekd.core.registry import use_scope
    from mmengine.registry import DefaultScope

    current = DefaultScope.get_current_instance()
    yield
    if current is not None:
        use_scope(current.scope_name)


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
    """Synthetic street scenes in the Cityscapes layout: 4 train and 2 val images of 64x128."""
    from densekd.data.cityscapes import make_street_scenes

    root = tmp_path_factory.mktemp("cityscapes")
    make_street_scenes(str(root), num_train=4, num_val=2, size=(64, 128), seed=0)
    return str(root)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory):
    """A 12-image shapes dataset in COCO format (8 train, 4 val)."""
    from densekd.data.shapes import make_shapes_coco

    root = tmp_path_factory.mktemp("shapes")
    make_shapes_coco(str(root), num_train=8, num_val=4, image_size=160, seed=0)
    return str(root)


def quick_run_options(root, iters=2, ann_file=None):
    """``--cfg-options`` shared by every quick test run: the loaders on ``root`` (batch 2, no workers),
    ``iters`` iterations, no validation or checkpoint on the way; ``ann_file``: the evaluators' file."""
    options = {f"{split}_dataloader.dataset.data_root": root for split in ("train", "val", "test")}
    options.update({f"{split}_dataloader.num_workers": 0 for split in ("train", "val", "test")})
    if ann_file is not None:
        options.update({"val_evaluator.ann_file": ann_file, "test_evaluator.ann_file": ann_file})
    options.update({"train_dataloader.batch_size": 2, "train_cfg.max_iters": iters,
                    "train_cfg.val_interval": 1000, "train_cfg.checkpoint_interval": 1000})
    return options


def data_options(root, iters=2, **extra):
    """``--cfg-options`` pointing a shapes config at ``root``, for ``iters`` quick iterations."""
    options = quick_run_options(root, iters, os.path.join(root, "annotations", "instances_val.json"))
    options["lr_schedule.warmup_iters"] = 0
    options.update(extra)
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
    for split in ("val", "test"):
        options.update({f"{split}_dataloader.dataset.data_root": root, f"{split}_dataloader.num_workers": 0,
                        f"{split}_evaluator.ann_file": root + "kitti_infos_val.json"})
    options.update({"train_dataloader.batch_size": 1, "train_dataloader.num_workers": 0,
                    "train_cfg.max_iters": iters, "train_cfg.val_interval": 1000,
                    "train_cfg.checkpoint_interval": 1000, "train_cfg.log_interval": 1})
    options.update(extra)
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
    """Synthetic LiDAR scenes in the KITTI layout, prepared for mmdet3d: 4 train and 20 val frames (over
    40 moderate cars: fewer would cap a perfect AP40 below 100, see test_det3d_configs)."""
    from densekd.data.kitti import prepare_kitti
    from densekd.data.lidar_scenes import make_lidar_scenes

    root = tmp_path_factory.mktemp("kitti")
    make_lidar_scenes(str(root), num_train=4, num_val=20, seed=0)
    prepare_kitti(str(root))
    return str(root) + "/"

"""Shared fixtures: a tiny generated shapes dataset and the demo configs pointed at it."""
import json
import os

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


def as_argv(options):
    """``{'a.b': 1}`` -> ``['--cfg-options', 'a.b=1']``."""
    return ["--cfg-options", *[f"{k}={v}" for k, v in options.items()]] if options else []


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

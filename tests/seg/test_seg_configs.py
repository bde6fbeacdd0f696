"""Every Cityscapes config of the ACAM-KD wing trains two iterations on synthetic street scenes.

The scenes are written in the real Cityscapes layout (``leftImg8bit/`` + ``gtFine/``) and the
configs are shrunk only through ``--cfg-options``, as a user would: data root, loaders, the
training crop (the pipeline's RandomResize / RandomCrop and the data preprocessor's pad size), no
ImageNet weights, one CPU device. The distillation configs get a randomly initialised R101
teacher saved as a checkpoint.
"""
import csv
import math
import os
import time

import pytest
import torch

from conftest import as_argv, load_tool, seg_options

train_tool = load_tool("train")

TEACHER_CFG = "configs/deeplabv3_r101_cityscapes.py"
PLAIN = ["configs/deeplabv3_r101_cityscapes.py", "configs/deeplabv3_r18_cityscapes.py",
         "configs/deeplabv3_mbv2_cityscapes.py"]
MIMIC = ["configs/mimic_cityscapes_r101_r18.py", "configs/mimic_cityscapes_r101_mbv2.py"]
ACAM = ["configs/acam_cityscapes_r101_r18.py", "configs/acam_cityscapes_r101_mbv2.py"]
DISTILL_LOSSES = {
    **{c: ("loss_mimic",) for c in MIMIC},
    **{c: ("loss_acam_spatial", "loss_acam_channel", "loss_acam_div") for c in ACAM},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def seg_teacher_ckpt(tmp_path_factory):
    """The R101 teacher config's model with random weights, saved as a native checkpoint."""
    from densekd.core.config import load_config
    from densekd.core.registry import build, use_scope

    cfg = load_config(TEACHER_CFG)
    use_scope(cfg)
    torch.manual_seed(0)
    model = build(cfg.model)
    path = tmp_path_factory.mktemp("seg_teacher") / "deeplabv3_r101.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return str(path)


def train(config, work_dir, options):
    return train_tool.main([config, "--work-dir", str(work_dir), "--devices", "1", "--accelerator", "cpu",
                            *as_argv(options)])


def logged(work_dir):
    """The rows of the run's Lightning CSV log."""
    with open(os.path.join(work_dir, "logs", "version_0", "metrics.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("config", PLAIN + MIMIC + ACAM)
def test_config_trains_two_iterations(config, street_root, seg_teacher_ckpt, tmp_path):
    extra = {"teacher.checkpoint": seg_teacher_ckpt} if config in DISTILL_LOSSES else {}
    trainer = train(config, tmp_path, seg_options(street_root, **extra))

    assert trainer.global_step == 2
    assert os.path.isfile(tmp_path / "last.ckpt")
    state = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert [k for k in state if k.startswith("student.decode_head.conv_seg")]
    assert not [k for k in state if k.startswith("teacher.")]
    rows = logged(tmp_path)
    task = [float(r["train/decode.loss_ce"]) for r in rows if r.get("train/decode.loss_ce")]
    assert len(task) == 2 and all(math.isfinite(v) and v > 0 for v in task)
    for name in DISTILL_LOSSES.get(config, ()):
        values = [float(r[f"train/{name}"]) for r in rows if r.get(f"train/{name}")]
        assert len(values) == 2, f"{name} not logged at both steps: {rows}"
        assert all(math.isfinite(v) for v in values), (name, values)
        assert math.isfinite(float(trainer.callback_metrics[f"train/{name}"]))
    if config in ACAM:  # the mask monitor: each mask module's statistics at both steps
        for kind in ("spatial", "channel"):
            stds = [float(r[f"train/masks/pairs.0.{kind}/std"]) for r in rows if r.get(f"train/masks/pairs.0.{kind}/std")]
            assert len(stds) == 2 and all(0 <= v <= 0.5 for v in stds), (kind, stds)
            for share in ("flat_share", "duplicate_share"):
                values = [float(r[f"train/masks/pairs.0.{kind}/{share}"]) for r in rows
                          if r.get(f"train/masks/pairs.0.{kind}/{share}")]
                assert len(values) == 2 and all(0 <= v <= 1 for v in values), (kind, share, values)
    if config in DISTILL_LOSSES:
        module = trainer.lightning_module
        assert module.teacher is not None and not module.teacher.training
        # the teacher is the checkpoint's, unchanged by training
        saved = torch.load(seg_teacher_ckpt, map_location="cpu", weights_only=True)["state_dict"]
        name = "decode_head.conv_seg.weight"
        assert torch.equal(module.teacher.state_dict()[name], saved[name])


def test_missing_cityscapes_fails_fast_naming_path_and_prepare_tool(tmp_path):
    empty = tmp_path / "no_cityscapes"
    empty.mkdir()
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        train("configs/deeplabv3_r18_cityscapes.py", tmp_path / "work", seg_options(str(empty)))
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert str(empty) in message
    assert "tools/prepare_cityscapes.py" in message


def test_missing_pretrained_backbone_names_the_file(street_root, tmp_path):
    weights = "checkpoints/resnet18_v1c-b5776b93.pth"
    if os.path.exists(weights):
        pytest.skip(f"{weights} is present in this checkout")
    with pytest.raises(FileNotFoundError) as err:
        train("configs/deeplabv3_r18_cityscapes.py", tmp_path, seg_options(street_root, pretrained=True))
    message = str(err.value)
    assert weights in message
    assert "model.pretrained=None" in message

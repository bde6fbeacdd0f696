"""Bad input stops with a message that names what was wrong, the value seen and what to do."""
import json

import pytest
import torch

from conftest import MIMIC_CFG, as_argv, data_options, load_tool
from densekd.core.config import load_config
from densekd.core.distiller import FeatureMimicDistiller
from densekd.core.registry import MODELS, build

train_tool = load_tool("train")


def test_missing_config():
    with pytest.raises(FileNotFoundError, match="config file not found: configs/nope.py"):
        load_config("configs/nope.py")


def test_config_that_is_not_python(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(type='FasterRCNN'\n")
    with pytest.raises(SyntaxError, match="not valid Python"):
        load_config(str(bad))


def test_unknown_registry_type_lists_close_names():
    with pytest.raises(KeyError, match="unknown type 'FeatureMSELos'") as err:
        build(dict(type="FeatureMSELos"))
    assert "FeatureMSELoss" in str(err.value)


def test_missing_teacher_checkpoint_says_how_to_train_it(shapes_root, tmp_path):
    options = data_options(shapes_root, **{"teacher.checkpoint": "work_dirs/missing/last.ckpt"})
    with pytest.raises(FileNotFoundError, match="work_dirs/missing/last.ckpt") as err:
        train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), *as_argv(options)])
    assert "python tools/train.py configs/demo/faster_rcnn_teacher_shapes.py" in str(err.value)


def test_different_widths_without_adapter(shapes_root, teacher_ckpt, tmp_path):
    options = data_options(shapes_root, **{"teacher.checkpoint": teacher_ckpt, "distiller.adapter": None})
    with pytest.raises(ValueError, match="'neck\\[0\\]' has 32 channels .* has 128") as err:
        train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), *as_argv(options)])
    assert "adapter=dict(type='ConvAdapter')" in str(err.value)


@MODELS.register_module()
class NaNFromStepTwoDistiller(FeatureMimicDistiller):
    """Feature mimicking whose loss turns NaN at step 2 (to test the NaN guard)."""

    def forward(self, student_feats, teacher_feats, data=None, step=0):
        losses = super().forward(student_feats, teacher_feats, data, step)
        return {k: v * torch.nan if step >= 2 else v for k, v in losses.items()}


def test_nan_loss_stops_naming_step_and_loss_and_keeps_last_checkpoint(shapes_root, teacher_ckpt, tmp_path):
    options = data_options(shapes_root, iters=4, **{
        "teacher.checkpoint": teacher_ckpt, "distiller.type": "NaNFromStepTwoDistiller",
        "train_cfg.checkpoint_interval": 2})
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 2: \['loss_mimic'\]"):
        train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), "--accelerator", "cpu", *as_argv(options)])
    last = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    summary = json.load(open(tmp_path / "train_summary.json"))  # where tools/demo.py reports it from
    assert summary["iterations"] == 2 and summary["diverged"].startswith("non-finite loss at step 2")


def test_teacher_without_distiller(shapes_root, teacher_ckpt, tmp_path):
    options = data_options(shapes_root, **{"teacher.checkpoint": teacher_ckpt})
    cfg = load_config(MIMIC_CFG, options)
    cfg.pop("distiller")
    from densekd import DistillModule

    with pytest.raises(KeyError, match="no 'distiller'"):
        DistillModule.from_config(cfg)

"""Bad input stops with a message that names what was wrong, the value seen and what to do."""
import json
import subprocess
import sys

import pytest
import torch

from conftest import MIMIC_CFG, as_argv, data_options, load_tool
from densekd.core.config import load_config
from densekd.core.errors import DensekdError, InUse
from densekd.core.trainer import build_trainer
from densekd.core.training import work_dir_lock
from densekd.core.distiller import FeatureMimicDistiller
from densekd.core.registry import MODELS, build

train_tool = load_tool("train")


def test_missing_config():
    with pytest.raises(FileNotFoundError, match="config file not found: configs/nope.py"):
        load_config("configs/nope.py")


def test_config_that_is_not_python(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(type='FasterRCNN'\n")
    with pytest.raises(ValueError, match="not valid Python"):
        load_config(str(bad))


def test_misspelled_override_is_refused_naming_the_close_key():
    with pytest.raises(KeyError, match="train_cfg has no 'max_itres'.*close keys: train_cfg.max_iters") as err:
        load_config(MIMIC_CFG, {"train_cfg.max_itres": 5})
    assert "+train_cfg.max_itres=" in str(err.value)  # and says how to add a key on purpose
    with pytest.raises(KeyError, match="close keys: train_cfg.max_iters"):  # a key at the wrong level
        load_config(MIMIC_CFG, {"max_iters": 5})
    with pytest.raises(KeyError, match="train_cfg.max_iters is 800, not a dict"):
        load_config(MIMIC_CFG, {"train_cfg.max_iters.value": 5})


def test_existing_keys_override_and_plus_adds_a_new_key(tmp_path):
    cfg = load_config(MIMIC_CFG, {"train_cfg.max_iters": 5, "model.roi_head": None, "+trainer.num_sanity_val_steps": 7})
    assert cfg.train_cfg.max_iters == 5 and cfg.model.roi_head is None
    assert build_trainer(cfg, str(tmp_path), accelerator="cpu").num_sanity_val_steps == 7  # reaches the Trainer
    assert "num_sanity_val_steps" not in load_config(MIMIC_CFG).trainer
    assert load_config(MIMIC_CFG, {"load_from": "x.pth"}).load_from == "x.pth"  # read when present: no '+' needed


def test_override_sets_one_item_of_a_list():
    channels = load_config(MIMIC_CFG).model.neck.in_channels
    cfg = load_config(MIMIC_CFG, {"model.neck.in_channels.1": 99, "train_pipeline.2.scale.0": 128})
    assert cfg.model.neck.in_channels == [channels[0], 99, *channels[2:]]  # an item of a list of numbers
    assert cfg.train_pipeline[2].type == "Resize" and cfg.train_pipeline[2].scale[0] == 128  # in a dict in a list
    with pytest.raises(KeyError, match=f"in_channels is a list of {len(channels)}, it has no '9': number its items"):
        load_config(MIMIC_CFG, {"model.neck.in_channels.9": 1})


def run_tool(*argv, debug=False):
    return subprocess.run([sys.executable, "tools/train.py", *argv, *(["--debug"] if debug else [])],
                          capture_output=True, text=True, timeout=300)


def test_command_line_prints_a_deliberate_error_as_one_line(tmp_path):
    missing = str(tmp_path / "no_such_dataset")
    result = run_tool(MIMIC_CFG, "--work-dir", str(tmp_path), "--cfg-options",
                      f"train_dataloader.dataset.data_root={missing}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(errors) == 1 and f"dataset path not found: {missing}" in errors[0]
    assert "tools/make_demo_data.py" in errors[0]  # what to do
    typo = run_tool(MIMIC_CFG, "--cfg-options", "train_cfg.max_itres=5")
    assert typo.returncode == 1 and "Traceback" not in typo.stderr
    assert "close keys: train_cfg.max_iters" in typo.stderr
    debug = run_tool(MIMIC_CFG, "--cfg-options", "train_cfg.max_itres=5", debug=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UnknownKey" in debug.stderr


def test_deliberate_errors_keep_their_builtin_type():
    with pytest.raises(FileNotFoundError) as err:
        load_config("configs/nope.py")
    assert isinstance(err.value, DensekdError)  # what the command lines print as one line


def test_unknown_registry_type_lists_close_names():
    with pytest.raises(KeyError, match="unknown type 'FeatureMSELos'") as err:
        build(dict(type="FeatureMSELos"))
    assert "FeatureMSELoss" in str(err.value)


def test_missing_teacher_checkpoint_says_how_to_train_it(shapes_root, tmp_path):
    options = data_options(shapes_root, **{"teacher.checkpoint": "work_dirs/missing/last.ckpt"})
    with pytest.raises(FileNotFoundError, match="work_dirs/missing/last.ckpt") as err:
        train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), *as_argv(options)])
    assert "python tools/train.py configs/demo/faster_rcnn_teacher_shapes.py" in str(err.value)


def test_a_second_training_into_a_work_dir_in_use_is_refused_before_writing(tmp_path, monkeypatch):
    for key in ("LOCAL_RANK", "RANK", "SLURM_PROCID"):  # not a distributed launch's process
        monkeypatch.delenv(key, raising=False)
    work_dir = tmp_path / "run"
    work_dir.mkdir()
    with work_dir_lock(str(work_dir)):  # the first training
        with pytest.raises(InUse, match=f"another training is writing to {work_dir} .*another --work-dir"):
            train_tool.main([MIMIC_CFG, "--work-dir", str(work_dir)])
    assert sorted(p.name for p in work_dir.iterdir()) == [".train.lock"]  # nothing written, not even config.py
    with work_dir_lock(str(work_dir)):  # released when the first one ended
        pass


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

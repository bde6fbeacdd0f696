"""Checkpoints as OpenMMLab writes them load wherever densekd reads weights, weights-only.

A runner checkpoint of each library's model (mmdet, mmseg, mmdet3d) is written by mmengine's own ``Runner``:
one training iteration with an optimizer, a MultiStepLR scheduler and the CheckpointHook, so that the file holds
exactly what a runner writes (``meta`` with numpy values, a ``message_hub`` of ``HistoryBuffer`` objects,
``optimizer``, ``param_schedulers``). Each loads as a teacher, as ``load_from`` and in tools/test.py; so does an
mmdet 2.x model-zoo checkpoint. A checkpoint holding any other pickled type is refused in one line, its code unrun.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import (MIMIC_CFG, REPO, TEACHER_CFG, as_argv, data_options, kitti_options, load_tool, parsed,
                      seg_options)
from densekd import DistillModule
from densekd.core.checkpoint import LoggedHistory, load_checkpoint
from densekd.core.config import load_config
from densekd.core.errors import InvalidType, InvalidValue
from densekd.core.module import load_student_weights
from densekd.core.registry import DEFAULT_SCOPE, use_scope

pytestmark = pytest.mark.usefixtures("one_torch_thread", "restore_scope")  # mmseg's and mmdet3d's configs switch scope

Library = namedtuple("Library", "config distill_config data_fixture options")


def two_frames(root, folder):
    """``--cfg-options`` testing on a KITTI infos file of ``root``'s first 2 training frames (in ``folder``):
    testing the 20 validation frames twice would take ~25 s."""
    infos = json.loads(Path(root, "kitti_infos_train.json").read_text())
    infos["data_list"] = infos["data_list"][:2]
    path = folder / "kitti_infos_2.json"
    path.write_text(json.dumps(infos))
    return {"test_dataloader.dataset.ann_file": str(path), "test_evaluator.ann_file": str(path)}


LIBRARIES = {
    "mmdet": Library(TEACHER_CFG, MIMIC_CFG, "shapes_root", lambda root, folder: data_options(root)),
    "mmseg": Library("configs/demo/deeplabv3_teacher_streets.py", "configs/demo/deeplabv3_mimic_streets.py",
                     "street_root", lambda root, folder: seg_options(root)),
    "mmdet3d": Library("configs/demo/pointpillars_teacher_lidar.py", "configs/demo/pointpillars_mimic_lidar.py",
                       "kitti_root", lambda root, folder: kitti_options(
                           "configs/demo/pointpillars_teacher_lidar.py", root, **two_frames(root, folder))),
}
RunnerCheckpoint = namedtuple("RunnerCheckpoint", "library path weights options")


def train_one_iteration(cfg, work_dir):
    """Train ``cfg.model`` one iteration on ``cfg``'s training set with mmengine's Runner, which saves a checkpoint;
    return its path and the model's weights."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    scope = DefaultScope.get_current_instance()  # the runner makes its own current: put it back after
    runner = Runner.from_cfg(Config(dict(
        model=cfg.model, work_dir=str(work_dir), default_scope=cfg.get("default_scope", DEFAULT_SCOPE),
        train_dataloader=dict(dataset=cfg.train_dataloader.dataset, batch_size=2, num_workers=0,
                              sampler=dict(type="DefaultSampler", shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=1e-4, momentum=0.9)),
        param_scheduler=dict(type="MultiStepLR", by_epoch=False, milestones=[1]),
        train_cfg=dict(by_epoch=False, max_iters=1),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1, by_epoch=False)),
        randomness=dict(seed=0))))
    runner.train()
    if scope is not None:
        use_scope(scope.scope_name)
    return os.path.join(work_dir, "iter_1.pth"), {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.fixture(scope="module", params=sorted(LIBRARIES))
def runner_ckpt(request, tmp_path_factory):
    """A checkpoint written by mmengine's Runner for the library's demo teacher."""
    library = LIBRARIES[request.param]
    folder = tmp_path_factory.mktemp(f"runner_{request.param}")
    options = library.options(request.getfixturevalue(library.data_fixture), folder)
    path, weights = train_one_iteration(load_config(library.config, parsed(options)), folder)
    return RunnerCheckpoint(library, path, weights, options)


def assert_same_weights(model, weights):
    state = model.state_dict()
    assert set(state) == set(weights)
    assert all(torch.equal(state[k], weights[k]) for k in weights)


def test_runner_checkpoint_holds_what_the_runner_writes_read_as_data(runner_ckpt):
    checkpoint = load_checkpoint(runner_ckpt.path)
    assert {"meta", "state_dict", "message_hub", "optimizer", "param_schedulers"} <= set(checkpoint)
    loss = checkpoint["message_hub"]["log_scalars"]["train/loss"]
    assert type(loss) is LoggedHistory  # mmengine's HistoryBuffer, none of its code run
    assert loss._log_history.dtype == np.float64 and loss._count_history.tolist() == [1]
    assert loss.statistics_methods == {"min": "min", "max": "max", "current": "current", "mean": "mean"}
    assert type(checkpoint["message_hub"]["runtime_info"]["eta"]) is np.float64
    assert checkpoint["param_schedulers"][0]["milestones"] == {1: 1}


def test_runner_checkpoint_loads_as_a_teacher(runner_ckpt):
    options = {**runner_ckpt.options, "teacher.checkpoint": runner_ckpt.path}
    module = DistillModule.from_config(load_config(runner_ckpt.library.distill_config, parsed(options)))
    assert_same_weights(module.teacher, runner_ckpt.weights)


def test_runner_checkpoint_loads_as_load_from(runner_ckpt, capsys):
    options = {**runner_ckpt.options, "load_from": runner_ckpt.path}
    student = DistillModule.from_config(load_config(runner_ckpt.library.config, parsed(options)),
                                        init_weights=True).student
    assert_same_weights(student, runner_ckpt.weights)
    n = len(runner_ckpt.weights)
    assert f"loaded {n} of the student's {n} entries" in capsys.readouterr().out


def test_runner_checkpoint_evaluates_as_its_weights_saved_plain(runner_ckpt, tmp_path, monkeypatch):
    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": runner_ckpt.weights}, plain)
    test_tool = load_tool("test")
    evaluated = []  # the student that tools/test.py evaluates, as loaded
    monkeypatch.setattr(test_tool, "load_student_weights",
                        lambda student, checkpoint: evaluated.append(load_student_weights(student, checkpoint)))
    written = {}
    for name, checkpoint in (("runner", runner_ckpt.path), ("plain", str(plain))):
        test_tool.main([runner_ckpt.library.config, checkpoint, "--work-dir", str(tmp_path / name),
                        "--accelerator", "cpu", *as_argv(runner_ckpt.options)])
        written[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert_same_weights(evaluated[0], runner_ckpt.weights)
    assert written["runner"] == written["plain"] and len(written["runner"]) >= 3


def numpy1_names(data):
    """A pickle as numpy 1 wrote it: numpy's rebuild functions under ``numpy.core`` (numpy 2: ``numpy._core``)."""
    return data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


@pytest.fixture
def zoo_ckpt(teacher_ckpt, tmp_path):
    """The demo teacher's weights in an mmdet 2.x model-zoo checkpoint: torch's legacy (pre-1.6) file format, a
    ``meta`` with the config text, versions, CLASSES and PALETTE, and a numpy score as numpy 1 pickled it."""
    weights = torch.load(teacher_ckpt, weights_only=True)["state_dict"]
    meta = dict(mmdet_version="2.25.1", mmcv_version="1.6.1", config="model = dict(type='FasterRCNN')\n",
                CLASSES=("circle", "square", "triangle"), PALETTE=[(220, 20, 60), (119, 11, 32), (0, 0, 142)],
                epoch=12, iter=7330, hook_msgs=dict(best_score=np.float64(0.375), last_ckpt="work_dirs/x/epoch_12.pth"))
    buffer = io.BytesIO()
    torch.save({"meta": meta, "state_dict": weights}, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / "faster_rcnn_mmdet2.pth"
    path.write_bytes(numpy1_names(buffer.getvalue()))
    return str(path), weights


def test_mmdet2_zoo_checkpoint_loads_as_a_teacher(zoo_ckpt):
    path, weights = zoo_ckpt
    meta = load_checkpoint(path)["meta"]
    assert meta["CLASSES"] == ("circle", "square", "triangle") and meta["hook_msgs"]["best_score"] == 0.375
    module = DistillModule.from_config(load_config(MIMIC_CFG, {"teacher.checkpoint": path}))
    assert_same_weights(module.teacher, weights)


def test_runner_checkpoint_written_with_numpy1_loads(runner_ckpt, tmp_path):
    """A runner checkpoint from before numpy 2 (the mmdet 3.x / mmseg 1.x / mmdet3d 1.x model zoos' era)."""
    path = tmp_path / "numpy1.pth"
    with zipfile.ZipFile(runner_ckpt.path) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item.filename, numpy1_names(data) if item.filename.endswith("data.pkl") else data)
    with zipfile.ZipFile(path) as written:
        assert b"numpy.core.multiarray" in written.read(next(n for n in written.namelist() if n.endswith("data.pkl")))
    checkpoint = load_checkpoint(str(path))
    assert all(torch.equal(checkpoint["state_dict"][k], v) for k, v in runner_ckpt.weights.items())
    assert checkpoint["message_hub"]["log_scalars"]["train/loss"]._count_history.tolist() == [1]


def test_teacher_checkpoint_of_another_model_is_refused_naming_what_differs(teacher_ckpt, tmp_path):
    weights = torch.load(teacher_ckpt, weights_only=True)["state_dict"]
    del weights["rpn_head.rpn_cls.bias"]
    weights["roi_head.mask_head.conv_logits.weight"] = torch.zeros(1)
    weights["backbone.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "other.pth"
    torch.save(weights, path)
    with pytest.raises(InvalidValue, match=r"teacher checkpoint .*other.pth does not fit the model: missing "
                                           r"rpn_head.rpn_cls \(1\); not in the model: roi_head.mask_head \(1\); "
                                           r"of another shape: backbone.conv1 \(1\) — .*faster_rcnn_teacher_shapes"):
        DistillModule.from_config(load_config(MIMIC_CFG, {"teacher.checkpoint": str(path)}))


class Tripwire:
    """Writes the file it names when built: unpickling one runs this code."""

    def __init__(self, path):
        self.path = str(path)
        Path(path).write_text("Tripwire's code ran")

    def __reduce__(self):
        return Tripwire, (self.path,)


def test_checkpoint_with_an_unknown_type_is_refused_in_one_line_without_running_it(shapes_root, tmp_path):
    ran = tmp_path / "ran.txt"
    checkpoint = tmp_path / "tripwire.pth"
    torch.save({"state_dict": {}, "meta": {"hook": Tripwire(ran)}}, checkpoint)
    ran.unlink()
    torch.load(checkpoint, weights_only=False)  # what a full unpickle does: the file holds code that runs
    assert ran.exists()
    ran.unlink()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))  # where a full unpickle would import Tripwire from
    result = subprocess.run([sys.executable, "tools/test.py", TEACHER_CFG, str(checkpoint), "--work-dir", str(tmp_path),
                             *as_argv(data_options(shapes_root))], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(errors) == 1 and f"holds a pickled {Tripwire.__module__}.Tripwire" in errors[0]
    assert "torch.save({'state_dict'" in errors[0]  # what to do
    assert not ran.exists()


class RunsAShell:
    """Runs a shell command when unpickled."""

    def __reduce__(self):
        return os.system, ("true",)


@pytest.mark.parametrize("value, named", [
    (argparse.Namespace(lr=0.1), "argparse.Namespace"),
    (RunsAShell(), f"{os.system.__module__}.system"),  # posix.system: a module torch blocks outright
    (np.float32(0.5), "numpy.dtypes.Float32DType"),  # a numpy dtype no OpenMMLab checkpoint was seen to hold
    (np.array([{"a": 1}], dtype=object), "numpy.dtypes.ObjectDType"),  # its items would be pickled objects
    (print, "print"),
])
def test_other_pickled_types_are_refused_naming_them(value, named, tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {}, "meta": {"value": value}}, path)
    with pytest.raises(InvalidType, match=f"checkpoint {path} holds a pickled {named}, which densekd does not load"):
        load_checkpoint(str(path))


@pytest.mark.parametrize("content, says", [
    (b"", "EOFError: no data"),
    (b"model = dict(type='FasterRCNN')\n", "UnpicklingError: Unsupported operand"),  # a config, not a checkpoint
    (b"hello\n", "KeyError"),
])
def test_file_that_is_no_checkpoint_is_refused_in_one_line(content, says, tmp_path):
    path = tmp_path / "not_a.pth"
    path.write_bytes(content)
    with pytest.raises(InvalidValue, match=f"teacher checkpoint {path} is not a checkpoint torch can read \\({says}"):
        load_checkpoint(str(path), "teacher checkpoint")


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="teacher checkpoint not found: .*nothing.pth — train it first"):
        load_checkpoint(str(tmp_path / "nothing.pth"), "teacher checkpoint", "train it first")

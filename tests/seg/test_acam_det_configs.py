"""Every COCO config of the ACAM-KD wing (RetinaNet, Faster R-CNN; R101 teachers, R50 students;
plain, feature mimic, ACAM-KD) trains two iterations on a tiny dataset in the COCO 2017 layout.

The shapes images are copied into ``train2017/`` / ``val2017/`` and their annotations renamed to
COCO class names, so mmdet's 80-class CocoDataset metainfo, the 80-class heads and CocoMetric work
unchanged; the configs are shrunk only through ``--cfg-options``, as a user would.
"""
import csv
import json
import math
import os
import re

import pytest
import torch

from conftest import as_argv, det_options, load_tool

train_tool = load_tool("train")

TEACHERS = {"retinanet": "configs/retinanet_r101_fpn_2x_coco.py",
            "faster_rcnn": "configs/faster_rcnn_r101_fpn_2x_coco.py"}
PLAIN = ["configs/retinanet_r101_fpn_2x_coco.py", "configs/retinanet_r50_fpn_2x_coco.py",
         "configs/faster_rcnn_r101_fpn_2x_coco.py", "configs/faster_rcnn_r50_fpn_2x_coco.py"]
MIMIC = ["configs/mimic_coco_retinanet_r101_r50.py", "configs/mimic_coco_faster_rcnn_r101_r50.py"]
ACAM = ["configs/acam_coco_retinanet_r101_r50.py", "configs/acam_coco_faster_rcnn_r101_r50.py"]
DISTILL_LOSSES = {
    **{c: ("loss_mimic",) for c in MIMIC},
    **{c: ("loss_acam_spatial", "loss_acam_channel", "loss_acam_div") for c in ACAM},
}
INHERITED = {"configs/acam_coco_retinanet_r101_r50.py": ("neck", "bbox_head"),
             "configs/acam_coco_faster_rcnn_r101_r50.py": ("neck", "rpn_head", "roi_head")}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def det_teacher_ckpt(tmp_path_factory):
    """``kind -> path``: each R101 teacher config's model with random weights, saved once."""
    from densekd.core.config import load_config
    from densekd.core.registry import build, use_scope

    saved = {}

    def get(kind):
        if kind not in saved:
            cfg = load_config(TEACHERS[kind])
            use_scope(cfg)
            torch.manual_seed(0)
            model = build(cfg.model)
            path = tmp_path_factory.mktemp(f"{kind}_teacher") / "teacher.pth"
            torch.save({"state_dict": model.state_dict()}, path)
            saved[kind] = str(path)
        return saved[kind]

    return get


def logged(work_dir):
    """The rows of the run's Lightning CSV log."""
    with open(os.path.join(work_dir, "logs", "version_0", "metrics.csv")) as f:
        return list(csv.DictReader(f))


def logged_values(rows, name):
    return [float(r[name]) for r in rows if r.get(name)]


@pytest.mark.parametrize("config", PLAIN + MIMIC + ACAM)
def test_config_trains_two_iterations(config, coco_root, det_teacher_ckpt, tmp_path, capsys):
    kind = "retinanet" if "retinanet" in config else "faster_rcnn"
    extra = {"teacher.checkpoint": det_teacher_ckpt(kind)} if config in DISTILL_LOSSES else {}
    trainer = train_tool.main([config, "--work-dir", str(tmp_path), "--devices", "1", "--accelerator", "cpu",
                               *as_argv(det_options(coco_root, **extra))])
    out = capsys.readouterr().out

    assert trainer.global_step == 2
    summary = json.load(open(tmp_path / "train_summary.json"))
    assert summary["iterations"] == 2
    state = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert [k for k in state if k.startswith("student.neck.")]
    assert not [k for k in state if k.startswith("teacher.")]
    module = trainer.lightning_module
    dataset = trainer.datamodule.dataset("train")
    assert len(dataset.metainfo["classes"]) == 80 and len(dataset) == 8

    rows = logged(tmp_path)
    task = logged_values(rows, "train/loss_cls")
    assert len(task) == 2 and all(math.isfinite(v) for v in task)
    if kind == "faster_rcnn":
        assert len(logged_values(rows, "train/loss_rpn_cls")) == 2
    for name in DISTILL_LOSSES.get(config, ()):
        values = logged_values(rows, f"train/{name}")
        assert len(values) == 2, f"{name} not logged at both steps: {rows}"
        assert all(math.isfinite(v) for v in values), (name, values)
        assert math.isfinite(float(trainer.callback_metrics[f"train/{name}"]))

    if config in DISTILL_LOSSES:
        assert not module.teacher.training
        saved = torch.load(det_teacher_ckpt(kind), map_location="cpu", weights_only=True)["state_dict"]
        name = "neck.fpn_convs.0.conv.weight"
        assert torch.equal(module.teacher.state_dict()[name], saved[name])
    inherited = re.search(r"inherit_from_teacher: (\d+) of the student's entries under (.*?) start from "
                          r"the teacher's; kept as initialised for their shape: (.*)", out)
    if config in INHERITED:
        assert inherited, f"no inheritance report in the output:\n{out[-3000:]}"
        count = int(inherited.group(1))
        # equal widths: every neck / head entry of the student was taken from the teacher
        own = [k for k in module.student.state_dict() if k.split(".")[0] in INHERITED[config]]
        assert count > 0 and count == len(own)
        assert inherited.group(3).strip() == "none"
    else:
        assert inherited is None

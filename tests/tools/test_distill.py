"""``tools/distill.py``: one command for any teacher / student pair, on zoo configs and generated data in the real
COCO, Cityscapes and KITTI layouts. Each pair trains 2 iterations, its written config re-runs with
``tools/train.py`` to the same first losses, and ``--dry-run`` prints the config and the feature pairs."""
import csv
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, as_argv, det_options, kitti_options, load_tool, seg_options

distill_tool = load_tool("distill")
train_tool = load_tool("train")

pytestmark = pytest.mark.usefixtures("one_torch_thread", "restore_scope")

FRCNN_R101, FRCNN_R50 = "mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py", "mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py"
RETINA_R101, RETINA_R50 = "mmdet::retinanet/retinanet_r101_fpn_2x_coco.py", "mmdet::retinanet/retinanet_r50_fpn_2x_coco.py"
DEEPLAB_R101 = "mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py"
DEEPLAB_R18 = "mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py"
PILLARS = "mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py"
PILLARS_4X = "configs/det3d/pointpillars_kitti_3class_4x.py"

# name: (teacher, student, method, the losses it adds, the feature pairs the dry run prints)
PAIRS = {
    "faster_rcnn": (FRCNN_R101, FRCNN_R50, "mimic", ("loss_mimic",),
                    ["student neck[0] (1, 256, 64, 64) -> teacher neck[0] (1, 256, 64, 64)",
                     "student neck[4] (1, 256, 4, 4) -> teacher neck[4] (1, 256, 4, 4)"]),
    "retinanet": (RETINA_R101, RETINA_R50, "acam", ("loss_acam_spatial", "loss_acam_channel", "loss_acam_div"),
                  ["student neck (1, 256, 32, 32) -> teacher neck (1, 256, 32, 32)"]),
    "deeplabv3": (DEEPLAB_R101, DEEPLAB_R18, "acam", ("loss_acam_spatial", "loss_acam_channel", "loss_acam_div"),
                  ["student decode_head.conv_seg (1, 19, 32, 32) -> teacher decode_head.conv_seg (1, 19, 32, 32)"]),
    "pointpillars": (PILLARS, PILLARS_4X, "pointdistiller", ("loss_graph",),
                     ["student voxel_encoder (", ", 32) -> teacher voxel_encoder (", ", 64)"]),
}


@pytest.fixture(scope="module")
def data(coco_root, street_root, kitti_root):
    """name -> ``--cfg-options`` putting the pair's student on generated data for 2 logged iterations."""
    quick = {"train_cfg.log_interval": 1}
    return {"faster_rcnn": {**det_options(coco_root), **quick},
            "retinanet": {**det_options(coco_root), **quick},
            "deeplabv3": seg_options(street_root),
            "pointpillars": kitti_options(PILLARS_4X, kitti_root)}


@pytest.fixture(scope="module")
def teacher_checkpoints(tmp_path_factory):
    """name -> the pair's teacher (zoo config) with random weights, saved as an mmdet-style checkpoint."""
    from densekd.core.config import load_config
    from densekd.core.registry import build, use_scope

    paths = {}
    for name, (teacher, *_) in PAIRS.items():
        cfg = load_config(teacher, required=("model",))
        use_scope(cfg)
        torch.manual_seed(0)
        path = tmp_path_factory.mktemp(name) / "teacher.pth"
        torch.save({"state_dict": build(cfg.model).state_dict(), "meta": {"CLASSES": ("a", "b")}}, path)
        paths[name] = str(path)
    return paths


def distill_argv(name, checkpoint, options, work_dir, *extra):
    teacher, student, method, *_ = PAIRS[name]
    return ["--teacher", teacher, "--teacher-checkpoint", checkpoint, "--student", student, "--method", method,
            "--work-dir", str(work_dir), "--devices", "1", "--accelerator", "cpu", *extra, *as_argv(options)]


def first_losses(work_dir):
    """``train/loss`` of the run's logged steps, in order."""
    with open(os.path.join(work_dir, "logs", "version_0", "metrics.csv")) as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.parametrize("name", PAIRS)
def test_distill_trains_any_pair_and_its_config_reruns(name, data, teacher_checkpoints, tmp_path, capsys):
    work = tmp_path / "distill"
    trainer = distill_tool.main(distill_argv(name, teacher_checkpoints[name], data[name], work))
    assert trainer.global_step == 2
    for loss in PAIRS[name][3]:
        assert torch.isfinite(trainer.callback_metrics[f"train/{loss}"]), loss
    module = trainer.lightning_module
    saved = torch.load(teacher_checkpoints[name], weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in module.teacher.state_dict().items())
    losses = first_losses(work)
    assert len(losses) == 2

    written = str(work / "distill_config.py")
    rerun = train_tool.main([written, "--work-dir", str(tmp_path / "rerun"), "--devices", "1", "--accelerator", "cpu"])
    assert rerun.global_step == 2
    assert first_losses(tmp_path / "rerun") == losses  # the written config is the whole run


@pytest.mark.parametrize("name", PAIRS)
def test_dry_run_prints_the_config_and_the_feature_pairs(name, data, teacher_checkpoints, tmp_path, capsys):
    distill_tool.main(distill_argv(name, teacher_checkpoints[name], data[name], tmp_path, "--dry-run"))
    out = capsys.readouterr().out
    teacher, student, method, _, pairs = PAIRS[name]
    assert f"#   teacher: {teacher}" in out and f"#   student: {student}" in out
    assert "distiller = dict(" in out and "teacher = dict(" in out
    table = out[out.rindex("feature pairs"):]
    for line in pairs:
        assert line in table, f"{line!r} not in:\n{table}"
    assert not (tmp_path / "last.ckpt").exists()  # nothing trained
    assert (tmp_path / "distill_config.py").read_text() in out


def test_the_zoo_schedule_becomes_iterations(data, teacher_checkpoints, tmp_path):
    """mmdet's 2x schedule (24 epochs, lr x 0.1 at epochs 16 and 22, total batch 16) over the 8 generated
    train images: one iteration an epoch, so 24 iterations with milestones 16 and 22, 8 devices of 2."""
    from densekd.core.pairing import plan_distillation

    options = {k: v for k, v in data["faster_rcnn"].items() if not k.startswith("train_cfg.")}
    cfg = plan_distillation(FRCNN_R101, teacher_checkpoints["faster_rcnn"], FRCNN_R50, "mimic", options).config
    assert dict(cfg.train_cfg) == dict(max_iters=24, val_interval=1, checkpoint_interval=1, log_interval=50)
    assert dict(cfg.lr_schedule) == dict(policy="step", warmup_iters=500, warmup_ratio=0.001, milestones=[16, 22],
                                         gamma=0.1)
    assert cfg.trainer.devices == 8
    assert "default_hooks" not in cfg and "param_scheduler" not in cfg


@pytest.mark.parametrize("teacher, student, method, message", [
    (DEEPLAB_R101, FRCNN_R50, "mimic", "the teacher is an encoder-decoder segmentor (mmseg) and the student an FPN"),
    (FRCNN_R101, FRCNN_R50, "pointdistiller", "pointdistiller does not fit an FPN detector (mmdet): its methods are "
                                              "acam, mimic"),
    (PILLARS, PILLARS_4X, "acam", "acam does not fit a pillar LiDAR detector"),
    (FRCNN_R101, FRCNN_R50, "oadp", "OADP distils a CLIP teacher"),
    (FRCNN_R101, FRCNN_R50, "fitnet", "unknown method 'fitnet': densekd has acam, mimic, oadp, pointdistiller"),
    (FRCNN_R101, "mmdet::faster_rcnn/faster-rcnn_r50_fpn_3x_coco.py", "mimic",
     "zoo config not found: mmdet::faster_rcnn/faster-rcnn_r50_fpn_3x_coco.py"),
])
def test_a_pair_that_cannot_be_connected_is_refused_in_one_line(teacher, student, method, message, tmp_path):
    result = subprocess.run([sys.executable, "tools/distill.py", "--teacher", teacher, "--teacher-checkpoint",
                             str(tmp_path / "t.pth"), "--student", student, "--method", method, "--dry-run",
                             "--work-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]

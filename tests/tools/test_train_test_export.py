"""The user's path end to end: train -> test -> export -> mmdet loads the student alone."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import MIMIC_CFG, REPO, STUDENT_CFG, as_argv, data_options, load_tool
from densekd import DistillModule
from densekd.core.config import load_config

train_tool = load_tool("train")


def ckpt_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def distilled_run(shapes_root, teacher_ckpt, tmp_path_factory):
    """Two distillation steps of the demo mimic config through tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp("mimic"))
    options = data_options(shapes_root, iters=2, **{"teacher.checkpoint": teacher_ckpt})
    trainer = train_tool.main([MIMIC_CFG, "--work-dir", work_dir, "--accelerator", "cpu", *as_argv(options)])
    return trainer, work_dir, options


def test_two_distillation_steps_train_the_student_and_not_the_teacher(distilled_run, teacher_ckpt):
    trainer, work_dir, _ = distilled_run
    module = trainer.lightning_module
    assert trainer.global_step == 2
    summary = json.load(open(os.path.join(work_dir, "train_summary.json")))
    assert summary["iterations"] == 2
    # the teacher: frozen, in eval mode, not in the optimizer, and its BN statistics unmoved
    assert not module.teacher.training
    assert all(not p.requires_grad for p in module.teacher.parameters())
    optimized = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert not optimized & {id(p) for p in module.teacher.parameters()}
    assert {id(p) for p in module.distiller.parameters()} <= optimized
    original = torch.load(teacher_ckpt, weights_only=True)["state_dict"]
    for key, value in module.teacher.state_dict().items():
        assert torch.equal(value, original[key]), f"teacher's {key} changed during training"
    bn_means = [k for k in original if k.endswith("running_mean")]
    assert bn_means  # the check above covered BN running statistics
    # ... while the student's BN statistics did move
    student_fresh = DistillModule.from_config(load_config(MIMIC_CFG), with_teacher=False).student.state_dict()
    moved = [k for k in student_fresh if k.endswith("running_mean")
             and not torch.equal(student_fresh[k], module.student.state_dict()[k])]
    assert moved


def test_checkpoint_holds_student_and_adapters_but_not_the_teacher(distilled_run):
    _, work_dir, _ = distilled_run
    state = ckpt_state(os.path.join(work_dir, "last.ckpt"))
    assert not [k for k in state if k.startswith("teacher.")]
    assert [k for k in state if k.startswith("student.")]
    assert [k for k in state if k.startswith("distiller.adapters.")]


def test_test_tool_prints_table_and_writes_metrics(distilled_run, capsys):
    _, work_dir, options = distilled_run
    test_tool = load_tool("test")
    metrics = test_tool.main([MIMIC_CFG, os.path.join(work_dir, "last.ckpt"), "--work-dir", work_dir,
                              "--accelerator", "cpu", *as_argv(options)])
    written = json.load(open(os.path.join(work_dir, "metrics.json")))
    assert written == metrics
    for key in ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/bbox_mAP_75"):
        assert 0.0 <= written[key] <= 1.0
    assert "coco/bbox_mAP_50" in capsys.readouterr().out


def test_export_loads_in_plain_mmdet(distilled_run, shapes_root, tmp_path):
    _, work_dir, options = distilled_run
    out = tmp_path / "export"
    load_tool("export_student").main([STUDENT_CFG, os.path.join(work_dir, "last.ckpt"), str(out)])
    image = os.path.join(shapes_root, "val", "000000.jpg")
    script = f"""
import sys, torch
from mmdet.apis import init_detector, inference_detector
model = init_detector({str(out / 'student_config.py')!r}, {str(out / 'student.pth')!r}, device='cpu')
saved = torch.load({str(out / 'student.pth')!r}, weights_only=True)['state_dict']
state = model.state_dict()
assert set(state) == set(saved), (set(state) ^ set(saved))
assert all(torch.equal(state[k], saved[k]) for k in saved)
assert 'densekd' not in sys.modules, 'loading the student imported densekd'
result = inference_detector(model, {image!r})
assert result.pred_instances.bboxes.shape[-1] == 4
print('classes', model.dataset_meta['classes'][:3], 'boxes', len(result.pred_instances))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "classes ['circle', 'square', 'triangle']" in done.stdout


def test_visualize_draws_a_row_per_model_and_a_column_per_image(distilled_run, shapes_root, tmp_path):
    _, work_dir, _ = distilled_run
    images = [os.path.join(shapes_root, "val", f"00000{i}.jpg") for i in range(2)]
    ckpt = os.path.join(work_dir, "last.ckpt")
    out = tmp_path / "grid.png"
    load_tool("visualize").main(["--model", "a", STUDENT_CFG, ckpt, "--model", "b", MIMIC_CFG, ckpt,
                                 "--images", *images, "--out", str(out), "--scale", "2", "--score-thr", "0"])
    from PIL import Image

    grid = Image.open(out)
    assert grid.size == (2 * 160 * 2, 2 * (160 * 2 + 14))
    # with score_thr 0 boxes are drawn: the grid is not just the photos
    photo = Image.open(images[0]).convert("RGB").resize((320, 320), Image.NEAREST)
    tile = grid.crop((0, 14, 320, 334))
    assert list(tile.getdata()) != list(photo.getdata())


def test_fresh_training_applies_the_init_cfg(tmp_path):
    """A backbone's ``init_cfg`` (ImageNet weights for real users; a local file here) is applied."""
    from densekd import DistillModule
    from densekd.core.config import load_config
    from densekd.core.registry import build

    cfg = load_config(STUDENT_CFG)
    torch.manual_seed(1)
    pretrained = build(cfg.model).backbone.state_dict()
    path = tmp_path / "backbone.pth"
    torch.save(pretrained, path)
    cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=str(path))
    torch.manual_seed(2)
    fresh = DistillModule.from_config(cfg, init_weights=True).student.backbone.state_dict()
    for key, value in pretrained.items():
        assert torch.equal(fresh[key], value), key
    torch.manual_seed(2)
    untouched = DistillModule.from_config(cfg).student.backbone.state_dict()
    assert not torch.equal(untouched["conv1.weight"], pretrained["conv1.weight"])

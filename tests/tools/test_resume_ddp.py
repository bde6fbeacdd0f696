"""Resume reproduces an uninterrupted run exactly; DDP runs on CPU with two processes."""
import os
import subprocess
import sys

import torch

from conftest import MIMIC_CFG, REPO, as_argv, data_options, load_tool

train_tool = load_tool("train")


def student_weights(work_dir):
    state = torch.load(os.path.join(work_dir, "last.ckpt"), map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if not k.startswith("teacher.")}


def test_four_steps_equal_two_plus_two_resumed(shapes_root, teacher_ckpt, tmp_path):
    def options(iters):
        return as_argv(data_options(shapes_root, iters=iters, **{"teacher.checkpoint": teacher_ckpt}))

    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train_tool.main([MIMIC_CFG, "--work-dir", straight, "--accelerator", "cpu", *options(4)])
    train_tool.main([MIMIC_CFG, "--work-dir", resumed, "--accelerator", "cpu", *options(2)])
    halfway = student_weights(resumed)
    trainer = train_tool.main([MIMIC_CFG, "--work-dir", resumed, "--accelerator", "cpu", "--resume", *options(4)])
    assert trainer.global_step == 4
    a, b = student_weights(straight), student_weights(resumed)
    assert set(a) == set(b)
    changed = [k for k in a if not torch.equal(halfway[k], b[k])]
    assert changed, "the resumed run did not train"
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"resumed weights differ from the uninterrupted run: {different[:5]}"


def test_ddp_two_processes_on_cpu(shapes_root, teacher_ckpt, tmp_path):
    work_dir = str(tmp_path / "ddp")
    options = data_options(shapes_root, iters=2, **{"teacher.checkpoint": teacher_ckpt,
                                                     "train_dataloader.batch_size": 1})
    cmd = [sys.executable, "tools/train.py", MIMIC_CFG, "--work-dir", work_dir,
           "--devices", "2", "--accelerator", "cpu", *as_argv(options)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "MEMBER: 2/2" in output  # Lightning started the second rank
    assert os.path.exists(os.path.join(work_dir, "last.ckpt"))

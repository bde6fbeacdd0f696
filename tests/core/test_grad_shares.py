"""Gradient shares: |grad of a distillation loss| / |grad of the task loss| at each student feature, by hand, in a
training run's CSV log at the configured interval, and in tools/grad_shares.py's report."""
import csv
import glob
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from conftest import MIMIC_CFG, as_argv, data_options, load_tool, write_training_log
from densekd import DistillModule
from densekd.core.cli import run
from densekd.core.errors import InvalidValue
from densekd.core.grad_shares import check_grad_share_features, gradient_shares, grad_share_table, read_grad_shares

report_tool = load_tool("grad_shares")
train_tool = load_tool("train")


def one_layer(seed=0):
    """f = x W^T from a bias-free linear layer: (x, W as numpy, f)."""
    torch.manual_seed(seed)
    layer = nn.Linear(4, 3, bias=False)
    x = torch.randn(5, 4)
    return layer, x, layer(x)


def test_share_is_the_ratio_of_the_two_gradient_norms_by_hand():
    layer, x, f = one_layer()
    target, weight = torch.randn(5, 3), 0.7
    task = (f ** 2).sum() / 2  # d/df = f
    distill = weight * ((f - target) ** 2).mean()  # d/df = 2 w (f - t) / f.numel()
    shares = gradient_shares(task, {"loss_kd": distill}, {"neck[0]": f})

    f_np = x.numpy().astype(np.float64) @ layer.weight.detach().numpy().astype(np.float64).T
    expected = np.linalg.norm(2 * weight * (f_np - target.numpy()) / f_np.size) / np.linalg.norm(f_np)
    assert shares == {("loss_kd", "neck[0]"): pytest.approx(expected, rel=1e-5)}
    # an fp16-AMP loss scale changes no ratio; no parameter gradient was written; the step's backward still runs
    assert gradient_shares(task, {"loss_kd": distill}, {"neck[0]": f}, loss_scale=1024.0) == pytest.approx(shares)
    assert layer.weight.grad is None
    (task + distill).backward()
    assert layer.weight.grad is not None


def test_fp16_features_need_the_amp_loss_scale_and_get_the_fp32_share_with_it():
    torch.manual_seed(0)
    layer, x, target = nn.Conv2d(3, 8, 1), torch.randn(2, 3, 64, 64), torch.randn(2, 8, 64, 64)

    def share(dtype, loss_scale=1.0):
        f = layer(x).to(dtype)  # as autocast's fp16 conv outputs: their gradients are fp16 too
        task = 1e-2 * (f.float() ** 2).sum() / 2  # 1e-2 f per element: 2**16 times that stays in fp16's range
        distill = 1e-3 * ((f.float() - target) ** 2).mean()  # 2e-3 (f - t) / 65536 per element: below fp16's range
        return gradient_shares(task, {"loss_kd": distill}, {"f": f}, loss_scale)[("loss_kd", "f")]

    assert share(torch.float16) != pytest.approx(share(torch.float32), rel=0.05)  # underflowed to 0 or fp16's least
    assert share(torch.float16, loss_scale=2.0 ** 16) == pytest.approx(share(torch.float32), rel=1e-3)


def test_pairs_a_loss_does_not_reach_are_left_out_and_tuples_are_flattened():
    layer, x, f = one_layer()
    head = nn.Linear(3, 2)
    g = head(f.relu())
    task = (g ** 2).sum()
    features = {"neck": (f, g), "not_a_tensor": None, "frozen": torch.ones(3)}
    shares = gradient_shares(task, {"loss_f": (f ** 2).mean(), "loss_g": g.abs().sum()}, features)
    # loss_f is computed from f alone: it never reaches g (downstream of f)
    assert set(shares) == {("loss_f", "neck[0]"), ("loss_g", "neck[0]"), ("loss_g", "neck[1]")}
    assert all(share > 0 for share in shares.values())


def test_a_feature_the_task_loss_does_not_reach_is_left_out_with_a_warning():
    layer, x, f = one_layer()
    side = nn.Linear(4, 3)(x)  # used by the distillation loss only
    with pytest.warns(UserWarning, match=r"'side_branch_only'.*does not reach it"):
        shares = gradient_shares((f ** 2).sum(), {"loss_kd": (f - side).pow(2).mean()},
                                 {"neck[0]": f, "side_branch_only": side})
    assert set(shares) == {("loss_kd", "neck[0]")}


@pytest.mark.parametrize("interval", [-1, 2.5, "10", True])
def test_a_bad_interval_is_a_one_line_error_naming_the_key(interval):
    with pytest.raises(InvalidValue, match=r"train_cfg\.grad_share_interval=") as err:
        DistillModule(student=nn.Linear(2, 2), grad_share_interval=interval)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("features", ["neck", [], [3]])
def test_bad_share_features_are_a_one_line_error_naming_the_key(features):
    with pytest.raises(InvalidValue, match=r"train_cfg\.grad_share_features=") as err:
        check_grad_share_features(features)
    assert "\n" not in str(err.value)


def metrics_rows(work_dir):
    (path,) = glob.glob(os.path.join(work_dir, "logs", "version_*", "metrics.csv"))
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_training_logs_the_shares_at_the_interval_and_nowhere_else(shapes_root, teacher_ckpt, tmp_path,
                                                                    one_torch_thread):
    # shares every 2 steps (0, 2), the other losses every 2 steps as well but at 1, 3: the shares do not
    # depend on log_interval
    options = data_options(shapes_root, iters=4, **{"teacher.checkpoint": teacher_ckpt, "distiller.warmup_iters": 0,
                                                    "+train_cfg.grad_share_interval": 2,
                                                    "train_cfg.log_interval": 2})
    train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), "--accelerator", "cpu", *as_argv(options)])
    rows = metrics_rows(str(tmp_path))
    columns = sorted(c for c in rows[0] if c.startswith("train/grad_share/"))
    assert columns == [f"train/grad_share/loss_mimic/neck[{i}]" for i in range(5)]
    logged = {int(r["step"]): [float(r[c]) for c in columns] for r in rows if r[columns[0]]}
    assert sorted(logged) == [0, 2]
    assert all(0 < share < float("inf") for shares in logged.values() for share in shares)
    assert sorted(int(r["step"]) for r in rows if r["train/loss"]) == [1, 3]
    assert sorted(read_grad_shares(str(tmp_path))) == [("loss_mimic", f"neck[{i}]") for i in range(5)]


def test_shares_are_measured_at_the_given_features_instead_of_the_distillers(shapes_root, teacher_ckpt, tmp_path,
                                                                             one_torch_thread):
    # the mimic reads neck[0..4]; asked for the backbone's stages, which both losses reach, it measures there only
    options = data_options(shapes_root, iters=1, **{"teacher.checkpoint": teacher_ckpt, "distiller.warmup_iters": 0,
                                                    "+train_cfg.grad_share_interval": 1,
                                                    "train_cfg.grad_share_features": "[backbone]"})
    train_tool.main([MIMIC_CFG, "--work-dir", str(tmp_path), "--accelerator", "cpu", *as_argv(options)])
    shares = read_grad_shares(str(tmp_path))
    assert {loss for loss, _ in shares} == {"loss_mimic"}
    assert sorted(feature for _, feature in shares) == [f"backbone[{i}]" for i in range(len(shares))]
    assert len(shares) >= 2


A = "train/grad_share/loss_mimic/neck[0]"
B = "train/grad_share/loss_mimic/neck[1]"


def test_report_table_takes_first_quartiles_last_and_mean_and_draws_a_png(tmp_path, capsys):
    rows = [dict(step=s, epoch=0, **{"train/loss": 1.0}) for s in range(9, 100, 10)]
    for step, a, b in [(0, 0.0, 2.0), (25, 0.5, 2.0), (50, 1.0, None), (75, 2.0, 2.0), (100, 4.5, 6.0)]:
        rows.append({"step": step, A: a, **({B: b} if b is not None else {})})
    write_training_log(str(tmp_path), rows)
    table = grad_share_table(read_grad_shares(str(tmp_path)))
    assert table.splitlines() == [
        "| loss/feature | step 0 (first) | step 25 (25%) | step 50 (50%) | step 75 (75%) | step 100 (last) | mean |",
        "|---|---|---|---|---|---|---|",
        "| loss_mimic/neck[0] | 0 | 0.5 | 1 | 2 | 4.5 | 1.6 |",
        "| loss_mimic/neck[1] | 2 | 2 | - | 2 | 6 | 3 |",
    ]
    out = tmp_path / "shares.png"
    report_tool.main([str(tmp_path), "--out", str(out)])
    assert "| loss_mimic/neck[0] | 0 | 0.5 |" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_resumed_runs_later_log_wins_at_a_step_logged_twice(tmp_path):
    write_training_log(str(tmp_path), [{"step": 0, A: 1.0}, {"step": 10, A: 9.0}], version=0)
    write_training_log(str(tmp_path), [{"step": 10, A: 2.0}, {"step": 20, A: 3.0}], version=1)
    assert read_grad_shares(str(tmp_path)) == {("loss_mimic", "neck[0]"): [(0, 1.0), (10, 2.0), (20, 3.0)]}


def test_a_run_without_shares_is_a_one_line_error_saying_how_to_log_them(tmp_path, capsys, monkeypatch):
    write_training_log(str(tmp_path), [{"step": 9, "train/loss": 1.0}])
    monkeypatch.setattr(sys, "argv", ["grad_shares.py", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        run(report_tool.main)
    assert exit_.value.code == 1
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "logged no grad shares" in error and "--cfg-options train_cfg.grad_share_interval=N" in error

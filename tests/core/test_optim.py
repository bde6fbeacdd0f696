import pytest
import torch
from torch import nn

from densekd.core.optim import build_lr_scheduler, build_optimizer, lr_factor


def test_step_policy_with_warmup():
    # warm-up over 10 steps from 0.1: step 5 -> 0.1 + 0.9 * 5 / 10 = 0.55; milestones at 20, 30
    assert lr_factor(5, 40, "step", warmup_iters=10, warmup_ratio=0.1, milestones=[20, 30]) == pytest.approx(0.55)
    assert lr_factor(10, 40, "step", warmup_iters=10, milestones=[20, 30]) == 1.0
    assert lr_factor(25, 40, "step", milestones=[20, 30], gamma=0.1) == pytest.approx(0.1)
    assert lr_factor(35, 40, "step", milestones=[20, 30], gamma=0.1) == pytest.approx(0.01)


def test_cosine_and_poly():
    # cosine at half way: 0.5 * (1 + cos(pi / 2)) = 0.5; poly power 2 at a quarter: 0.75^2 = 0.5625
    assert lr_factor(50, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine") == pytest.approx(0.0)
    assert lr_factor(25, 100, "poly", power=2.0) == pytest.approx(0.5625)


def test_cyclic_policy_is_mmdet3d_one_cycle():
    # up from 1 to 10 over the first 40 %, then down to 1e-4: 1 at the start, 5.5 at 20 %, 10 at 40 %,
    # (10 + 1e-4) / 2 at 70 %, 1e-4 at the end
    assert lr_factor(0, 100, "cyclic") == pytest.approx(1.0)
    assert lr_factor(20, 100, "cyclic") == pytest.approx(5.5)
    assert lr_factor(40, 100, "cyclic") == pytest.approx(10.0)
    assert lr_factor(70, 100, "cyclic", min_ratio=1e-4) == pytest.approx((10 + 1e-4) / 2)
    assert lr_factor(100, 100, "cyclic", min_ratio=1e-4) == pytest.approx(1e-4)


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="unknown lr_schedule policy 'linearr'"):
        build_lr_scheduler(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1), 10, policy="linearr")


def test_per_module_lr_multiplier():
    model = nn.ModuleDict(dict(backbone=nn.Linear(2, 2), head=nn.Linear(2, 2)))
    optimizer = build_optimizer(model, dict(optimizer=dict(type="SGD", lr=0.1),
                                            paramwise_cfg=dict(custom_keys={"backbone": dict(lr_mult=0.5)})))
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs[id(model.backbone.weight)] == pytest.approx(0.05)
    assert lrs[id(model.head.weight)] == pytest.approx(0.1)
    scheduler = build_lr_scheduler(optimizer, 10, policy="step", warmup_iters=2, warmup_ratio=0.5)
    assert optimizer.param_groups[-1]["lr"] == pytest.approx(0.1 * 0.5)  # step 0 of warm-up
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[-1]["lr"] == pytest.approx(0.1 * 0.75)


def test_adamw_from_config():
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05)))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["weight_decay"] == 0.05


def test_optim_wrapper_clip_grad_reaches_the_trainer(tmp_path):
    from mmengine.config import Config

    from densekd.core.trainer import build_trainer

    cfg = Config(dict(train_cfg=dict(max_iters=4), optim_wrapper=dict(
        optimizer=dict(type="AdamW", lr=1e-3), clip_grad=dict(max_norm=35, norm_type=2))))
    trainer = build_trainer(cfg, str(tmp_path), accelerator="cpu")
    assert trainer.gradient_clip_val == 35 and trainer.gradient_clip_algorithm == "norm"
    cfg.optim_wrapper.clip_grad.norm_type = 1
    with pytest.raises(ValueError, match="norm_type=1"):
        build_trainer(cfg, str(tmp_path), accelerator="cpu")

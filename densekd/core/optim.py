"""Optimizer and per-iteration learning-rate schedule, both from config."""
import math

from mmengine.optim import build_optim_wrapper
from torch.optim.lr_scheduler import LambdaLR
from .errors import InvalidValue

POLICIES = ("step", "cosine", "poly", "cyclic", "constant")


def build_optimizer(module, optim_wrapper_cfg):
    """Build an optimizer for ``module``'s parameters from an mmengine ``optim_wrapper`` config.

    Per-module LR / decay multipliers come from ``paramwise_cfg.custom_keys`` (a key matches any
    parameter whose name contains it), exactly as in mmdet configs.
    """
    return build_optim_wrapper(module, optim_wrapper_cfg).optimizer


def lr_factor(step, max_iters, policy="step", warmup_iters=0, warmup_ratio=0.001,
              milestones=(), gamma=0.1, power=1.0, min_ratio=0.0, peak_ratio=10.0, up_fraction=0.4):
    """LR multiplier at ``step``: linear warm-up from ``warmup_ratio``, then the decay ``policy``.

    ``cyclic`` is mmdet3d's one-cycle schedule of its KITTI configs: cosine from 1 up to ``peak_ratio``
    over the first ``up_fraction`` of the run, then cosine down to ``min_ratio`` (momentum not cycled).
    """
    if policy == "step":
        factor = gamma ** sum(step >= m for m in milestones)
    elif policy == "cosine":
        progress = min(step / max(max_iters, 1), 1.0)
        factor = min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    elif policy == "poly":
        progress = min(step / max(max_iters, 1), 1.0)
        factor = min_ratio + (1 - min_ratio) * (1 - progress) ** power
    elif policy == "cyclic":
        progress = min(step / max(max_iters, 1), 1.0)
        if progress < up_fraction:
            factor = peak_ratio + (1 - peak_ratio) * 0.5 * (1 + math.cos(math.pi * progress / up_fraction))
        else:
            down = (progress - up_fraction) / (1 - up_fraction)
            factor = min_ratio + (peak_ratio - min_ratio) * 0.5 * (1 + math.cos(math.pi * down))
    elif policy == "constant":
        factor = 1.0
    else:
        raise InvalidValue(f"unknown lr_schedule policy {policy!r}; use one of {POLICIES}")
    if step < warmup_iters:
        factor *= warmup_ratio + (1 - warmup_ratio) * step / warmup_iters
    return factor


class _LRFactor:
    """Picklable ``step -> factor`` closure over the schedule settings."""

    def __init__(self, max_iters, **schedule):
        self.max_iters, self.schedule = max_iters, schedule
        lr_factor(0, max_iters, **schedule)  # validate the settings now

    def __call__(self, step):
        return lr_factor(step, self.max_iters, **self.schedule)


def build_lr_scheduler(optimizer, max_iters, **schedule):
    """A LambdaLR stepped once per iteration (see :func:`lr_factor` for the settings)."""
    return LambdaLR(optimizer, _LRFactor(max_iters, **schedule))


def lr_schedule_from_mmengine(param_scheduler, base_lr, iters_per_epoch):
    """densekd's ``lr_schedule`` for an mmengine ``param_scheduler`` list (a zoo config's), with epochs turned
    into iterations: LinearLR warm-up, then MultiStepLR (step), PolyLR (poly), CosineAnnealingLR (cosine) or
    mmdet3d's two-phase cosine one-cycle (cyclic). Momentum schedulers are left out (densekd does not cycle
    momentum); any other scheduler is refused, naming it."""
    def iters(value, by_epoch):
        return int(round(value * iters_per_epoch)) if by_epoch else int(value)

    def min_ratio(scheduler):
        if "eta_min_ratio" in scheduler:
            return scheduler["eta_min_ratio"]
        return scheduler.get("eta_min", 0.0) / base_lr

    lr_steps = [s for s in (param_scheduler or []) if "Momentum" not in s["type"]]
    schedule = dict(policy="constant")
    cosines = [s for s in lr_steps if s["type"] == "CosineAnnealingLR"]
    for scheduler in lr_steps:
        kind, by_epoch = scheduler["type"], scheduler.get("by_epoch", True)
        if kind == "LinearLR":
            schedule.update(warmup_iters=iters(scheduler.get("end", 0), by_epoch),
                            warmup_ratio=scheduler.get("start_factor", 1 / 3))
        elif kind == "MultiStepLR":
            schedule.update(policy="step", milestones=[iters(m, by_epoch) for m in scheduler["milestones"]],
                            gamma=scheduler.get("gamma", 0.1))
        elif kind == "PolyLR":
            schedule.update(policy="poly", power=scheduler.get("power", 1.0), min_ratio=min_ratio(scheduler))
        elif kind == "CosineAnnealingLR" and len(cosines) == 1:
            schedule.update(policy="cosine", min_ratio=min_ratio(scheduler))
        elif kind == "CosineAnnealingLR" and len(cosines) == 2 and min_ratio(cosines[0]) > 1:
            if scheduler is cosines[0]:  # up to the peak, then down: mmdet3d's cyclic-40e
                up, down = cosines
                schedule.update(policy="cyclic", peak_ratio=min_ratio(up), min_ratio=min_ratio(down),
                                up_fraction=round(up["end"] / down["end"], 4))
        elif kind != "ConstantLR" or scheduler.get("factor", 1.0) != 1.0:
            raise InvalidValue(f"param_scheduler {kind} ({scheduler}) has no densekd equivalent: set lr_schedule "
                               f"yourself (policies {POLICIES}, see densekd/core/optim.py::lr_factor)")
    return schedule

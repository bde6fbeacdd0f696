"""Gradient shares: how strongly each distillation loss pulls on each student feature, relative to the task loss.

The share of loss L at feature f is ``|dL/df| / |dTask/df|`` (L2 norms over the whole tensor, batch
included). Around 1, the two losses pull as hard; far above, distillation drowns the task; near 0, it
gives no signal. Training logs them every ``train_cfg.grad_share_interval`` steps as
``train/grad_share/<loss>/<feature>``; :func:`read_grad_shares` reads them back from a work dir's CSV
logs, :func:`grad_share_table` and :func:`plot_grad_shares` report them (``tools/grad_shares.py``).
"""
import math
import textwrap
import warnings

import torch

from .errors import InvalidValue
from .report import markdown_table
from .training_log import read_logged

METRIC_PREFIX = "train/grad_share/"
INTERVAL_KEY = "train_cfg.grad_share_interval"
FEATURES_KEY = "train_cfg.grad_share_features"
REPORT_POINTS = (("first", 0.0), ("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("last", 1.0))
_warned_unreached = set()  # features already warned about (once per process)


def check_grad_share_interval(value):
    """``value`` if it is a whole number of steps >= 0 (0: off), else a one-line error naming the key."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"{INTERVAL_KEY}={value!r}: give a whole number of training steps >= 0 "
                           "(e.g. 50: every 50 steps; 0 turns the diagnostic off)")
    return value


def check_grad_share_features(value):
    """``value`` (a list of student module paths, or None: the distiller's own features) if it is one, else a
    one-line error naming the key."""
    if value is None or (isinstance(value, (list, tuple)) and value and all(isinstance(p, str) for p in value)):
        return value
    raise InvalidValue(f"{FEATURES_KEY}={value!r}: give a non-empty list of student module paths, e.g. ['neck'] "
                       "(where the task's gradient and the distiller's meet), or leave it out to measure at the "
                       "features the distiller reads")


def differentiable_features(features):
    """``{name: tensor}`` of the recorded ``features`` that carry a gradient; a tuple/list output
    ``name`` gives ``name[0]``, ``name[1]``, ...; anything else (None, ints, frozen tensors) is skipped."""
    found = {}
    for name, value in features.items():
        if isinstance(value, (tuple, list)):
            found.update(differentiable_features({f"{name}[{i}]": v for i, v in enumerate(value)}))
        elif torch.is_tensor(value) and value.requires_grad:
            found[name] = value
    return found


def _warn_unreached(feature, why):
    if feature not in _warned_unreached:
        _warned_unreached.add(feature)
        warnings.warn(f"grad shares: feature {feature!r} is left out where the task loss {why} (a share is relative "
                      "to the task loss's gradient; warned once)", stacklevel=3)


def gradient_shares(task_loss, distill_losses, features, loss_scale=1.0):
    """``{(loss name, feature name): |d loss/d feature| / |d task_loss/d feature|}`` (floats).

    ``distill_losses``: ``{name: scalar tensor}``; ``features``: the student's recorded outputs
    (``{name: tensor or tuple of tensors}``). The gradients are taken with respect to the features
    alone (``torch.autograd.grad``, graph retained): no parameter's ``.grad`` changes and the step's
    backward runs as before. A pair whose loss does not reach the feature is left out; so is a
    feature the task loss does not reach or reaches with a zero or non-finite gradient (warned once
    per feature). ``loss_scale`` (fp16 AMP's loss scale) multiplies every loss before differentiating,
    so that fp16 gradients do not underflow; the ratios do not depend on it.
    """
    named = differentiable_features(features)
    losses = {name: loss for name, loss in distill_losses.items() if torch.is_tensor(loss) and loss.requires_grad}
    if not named or not losses or not (torch.is_tensor(task_loss) and task_loss.requires_grad):
        return {}
    names, tensors = list(named), list(named.values())
    norms = {}  # (loss name or None for the task loss, feature) -> 0-dim tensor on the features' device
    for loss_name, loss in [(None, task_loss), *losses.items()]:
        grads = torch.autograd.grad(loss * loss_scale, tensors, retain_graph=True, allow_unused=True)
        norms.update({(loss_name, f): g.float().norm() for f, g in zip(names, grads) if g is not None})
    values = dict(zip(norms, torch.stack(list(norms.values())).tolist())) if norms else {}  # one device sync
    shares = {}
    for feature in names:
        reference = values.get((None, feature))
        if reference is None:
            _warn_unreached(feature, "does not reach it")
            continue
        if reference == 0 or not math.isfinite(reference):
            _warn_unreached(feature, f"has a gradient of norm {reference} there")
            continue
        for loss_name in losses:
            value = values.get((loss_name, feature))
            if value is not None and math.isfinite(value):
                shares[(loss_name, feature)] = value / reference
    return shares


def grad_share_metrics(shares):
    """``{(loss, feature): share}`` -> ``{'train/grad_share/<loss>/<feature>': share}``."""
    return {f"{METRIC_PREFIX}{loss}/{feature}": share for (loss, feature), share in shares.items()}


# --- the report ---------------------------------------------------------------------------------------
def read_grad_shares(work_dir):
    """``{(loss, feature): [(step, share), ...]}`` (by step) from ``work_dir``'s training logs
    (:func:`densekd.core.training_log.read_logged`)."""
    logged = read_logged(work_dir, METRIC_PREFIX)
    if not logged:
        raise InvalidValue(f"{work_dir} logged no grad shares (no {METRIC_PREFIX}* column in its "
                           f"logs/version_*/metrics.csv): set --cfg-options {INTERVAL_KEY}=N (e.g. 50) and retrain (a "
                           "distillation run: plain training has none)")
    return {tuple(column[len(METRIC_PREFIX):].split("/", 1)): points for column, points in logged.items()}


def report_steps(series):
    """The logged steps the table shows: the first, those nearest 25%, 50% and 75% of the way, the last
    (``[(label, step)]``, steps logged at several of these points shown once)."""
    steps = sorted({step for points in series.values() for step, _ in points})
    chosen = []
    for label, fraction in REPORT_POINTS:
        target = steps[0] + fraction * (steps[-1] - steps[0])
        step = min(steps, key=lambda s: abs(s - target))
        if step not in [s for _, s in chosen]:
            chosen.append((label, step))
    return chosen


def grad_share_table(series):
    """A Markdown table of ``series`` (from :func:`read_grad_shares`): a row per loss/feature, the share at
    the :func:`report_steps` and its mean over every logged step; '-' where a step has no value."""
    points = report_steps(series)
    columns = ["loss/feature", *(f"step {step} ({label})" for label, step in points), "mean"]
    rows = []
    for (loss, feature), values in series.items():
        by_step = dict(values)
        row = {"loss/feature": f"{loss}/{feature}",
               "mean": f"{sum(by_step.values()) / len(by_step):.3g}"}
        row.update({column: f"{by_step[step]:.3g}" for column, (_, step) in zip(columns[1:], points) if step in by_step})
        rows.append(row)
    return markdown_table(rows, columns)


def plot_grad_shares(runs, out):
    """Draw ``runs`` (``{run name: series}``) into ``out``: a row per run, a panel per loss, a line per
    feature over the steps, log y-axis, a dashed line at share 1 (distillation pulls as hard as the task)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = {run: sorted({loss for loss, _ in series}) for run, series in runs.items()}
    columns = max(map(len, losses.values()), default=1)
    fig, axes = plt.subplots(len(runs), columns, figsize=(5 * columns, 3.5 * len(runs)), squeeze=False, sharey=True)
    for row, (run, series) in zip(axes, runs.items()):
        for ax in row[len(losses[run]):]:
            ax.axis("off")  # this run has fewer losses than another
        for ax, loss in zip(row, losses[run]):
            for (name, feature), points in series.items():
                positive = [(s, v) for s, v in points if v > 0]  # a log axis shows no zeros (warm-up)
                if name == loss and positive:
                    ax.plot(*zip(*positive), marker=".", label=feature)
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
            ax.set_yscale("log")
            ax.set_title(loss, fontsize=9)
            ax.set_xlabel("step")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        row[0].set_ylabel(textwrap.fill(run, 45) + "\n\n|grad loss| / |grad task|", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)

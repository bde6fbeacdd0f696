"""What a run logged while it trained: Lightning's CSV logs (``work_dir/logs/version_*/metrics.csv``) read back
as series over steps, and a validation curve's plateau — has the metric stopped rising on the tuning split?

A resumed run writes a new ``version_*`` folder; at a step logged twice the later log wins.
"""
import csv
import glob
import os
import re

from .errors import InvalidValue, MissingFile

VAL_PREFIX = "val/"
CONVERGENCE_COLUMNS = ["run", "validations", "first", "best", "last", "plateau from", "converged"]  # convergence_row's


def _version_number(path):
    match = re.search(r"version_(\d+)", path)
    return int(match.group(1)) if match else -1


def read_logged(work_dir, prefix):
    """``{column: [(step, value), ...]}`` (by step) of every logged column whose name starts with ``prefix``."""
    paths = sorted(glob.glob(os.path.join(work_dir, "logs", "version_*", "metrics.csv")), key=_version_number)
    if not paths:
        raise MissingFile(f"no training log in {work_dir}: expected {work_dir}/logs/version_*/metrics.csv — "
                          "give the --work-dir of a tools/train.py run")
    series = {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for column, cell in row.items():
                    if column and column.startswith(prefix) and cell not in (None, ""):
                        series.setdefault(column, {})[int(row["step"])] = float(cell)
    return {column: sorted(by_step.items()) for column, by_step in sorted(series.items())}


def val_curve(work_dir, metric):
    """``[(iteration, value), ...]`` of ``metric`` (a metrics.json key, e.g. ``ov/AP50_base``) at each validation
    during training. Lightning logs a validation at the index of the step before it, so iteration = step + 1."""
    column = VAL_PREFIX + metric
    logged = read_logged(work_dir, VAL_PREFIX)
    if column not in logged:
        known = ", ".join(name[len(VAL_PREFIX):] for name in logged) or "none"
        raise InvalidValue(f"{work_dir} logged no validation of {metric!r} (logged: {known}); give one of those "
                           "with --metric")
    return [(step + 1, value) for step, value in logged[column]]


def plateau(curve, tolerance):
    """The iteration from which ``curve`` (``[(iteration, value)]``) stops rising: the first validation that no
    later one beats by more than ``tolerance``. A curve plateaus before its end when that iteration is not
    its last one, i.e. the last validations gained at most ``tolerance`` over it."""
    if not curve:
        raise InvalidValue("an empty validation curve: the run never validated; set train_cfg.val_interval")
    if tolerance < 0:
        raise InvalidValue(f"tolerance={tolerance}: give a value >= 0 (in the metric's own units)")
    for i, (iteration, value) in enumerate(curve):
        if all(later <= value + tolerance for _, later in curve[i + 1:]):
            return iteration
    return curve[-1][0]  # unreachable: the last point always qualifies


def convergence_row(name, curve, tolerance):
    """A table row of a run's validation ``curve`` (:func:`val_curve`): where it plateaus and whether that is
    before its end."""
    start = plateau(curve, tolerance)
    return {"run": name, "validations": len(curve), "first": f"{curve[0][1]:.3f} @ {curve[0][0]}",
            "best": "{1:.3f} @ {0}".format(*max(curve, key=lambda point: point[1])),
            "last": f"{curve[-1][1]:.3f} @ {curve[-1][0]}", "plateau from": start,
            "converged": "yes" if start < curve[-1][0] else "no: still rising at its last validation"}


def plot_val_curves(curves, metric, out):
    """Draw ``curves`` (``{run name: [(iteration, value)]}``) of ``metric`` into the image file ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        ax.plot(*zip(*curve), marker=".", label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{metric} (tuning split)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)

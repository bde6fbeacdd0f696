"""Has a run converged? The course of a metric on the tuning split (validation during training) and the
iteration from which it stops rising.

    python tools/val_curve.py WORK_DIR [WORK_DIR ...] --metric ov/AP50_base [--tolerance 0.01] [--out curve.png]

Prints a row per run: its first, best and last validation, the plateau (the first validation that no later
one beats by more than --tolerance, in the metric's units) and whether the plateau starts before the run's
last validation. Validate often enough to see it: ``--cfg-options train_cfg.val_interval=N``.
"""
import argparse
import os

from densekd.core.cli import run
from densekd.core.report import markdown_table
from densekd.core.training_log import CONVERGENCE_COLUMNS, convergence_row, plot_val_curves, val_curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dirs", nargs="+", metavar="WORK_DIR", help="work dirs of tools/train.py runs")
    parser.add_argument("--metric", required=True, help="a validation metric as metrics.json names it, e.g. mIoU, "
                        "coco/bbox_mAP, ov/AP50_base")
    parser.add_argument("--tolerance", type=float, default=0.01, help="a later rise this small or smaller does not "
                        "count (the metric's units; default 0.01)")
    parser.add_argument("--out", help="image file to draw the curves into (.png)")
    args = parser.parse_args(argv)
    names = {os.path.normpath(work_dir): work_dir for work_dir in args.work_dirs}
    curves = {name: val_curve(work_dir, args.metric) for name, work_dir in names.items()}
    rows = [convergence_row(name, curve, args.tolerance) for name, curve in curves.items()]
    print(markdown_table(rows, CONVERGENCE_COLUMNS))
    if args.out:
        plot_val_curves(curves, args.metric, args.out)
        print(f"wrote {args.out}")
    return rows


if __name__ == "__main__":
    run(main)

"""Report the gradient shares of distillation runs: |grad of each distillation loss| / |grad of the task loss| at
each student feature, as logged with train_cfg.grad_share_interval.

    python tools/grad_shares.py WORK_DIR [WORK_DIR ...] [--out shares.png]

Prints a Markdown table per run (a row per loss/feature: the share at the first logged step, 25%, 50%,
75% of the way, the last, and the mean) and with ``--out`` draws a panel per run and loss, a line per
feature, log y-axis. A share far above 1: that loss drowns the task at that feature (lower its weight);
near 0: it gives no signal there. Runs train with it logged by
``python tools/train.py CONFIG --cfg-options train_cfg.grad_share_interval=50`` (the demo distillation configs set it).
"""
import argparse
import os

from densekd.core.cli import run
from densekd.core.grad_shares import grad_share_table, plot_grad_shares, read_grad_shares


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dirs", nargs="+", metavar="WORK_DIR", help="work dirs of tools/train.py runs")
    parser.add_argument("--out", help="image file to draw the shares into (.png)")
    args = parser.parse_args(argv)
    runs = {os.path.normpath(work_dir): read_grad_shares(work_dir) for work_dir in args.work_dirs}
    for name, series in runs.items():
        print(f"## {name}\n\n{grad_share_table(series)}\n")
    if args.out:
        plot_grad_shares(runs, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    run(main)

"""Run the tuning protocol on a distillation config and print the paired table.

    python tools/tune.py CONFIG [--grid KEY=V1,V2 ...] [--metric NAME] [--seeds 1 2 3 4 5] [--tuning-seeds 0]
                         [--work-dir DIR] [--jobs 2] [--cfg-options k=v ...]

The grid (at most 6 settings; the config's own values always among them) trains with seed 0 (--tuning-seeds:
more seeds, ranked by their mean) and is ranked on the tuning split (val_dataloader); the best setting and the config's own then train with --seeds and are
tested on the report split (test_dataloader), with the student alone (the same config, teacher=None) on the
same seeds. The table gives each arm's mean ± sd and its paired difference to the student alone with a 95%
interval. Without --grid / --metric, the config's ``tuning = dict(grid={...}, metric=...)`` is used. List-valued
knobs: --grid distiller.masks=[[spatial],[channel]]. Re-running skips finished runs and resumes interrupted ones.
"""
import argparse
import os

from densekd.core.cli import run
from densekd.core.config import DictAction, default_work_dir
from densekd.core.runner import run_steps, threads_per_step
from densekd.core.tuning import REPORT_SEEDS, arm_steps, load_protocol, tuning_report, tuning_steps


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a distillation config (teacher + distiller)")
    parser.add_argument("--grid", nargs="+", action=DictAction, help="KEY=V1,V2 ...: the values to try (default: "
                        "the config's tuning.grid)")
    parser.add_argument("--metric", help="the val / test metric that ranks and reports (default: tuning.metric)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(REPORT_SEEDS),
                        help="report seeds (default: 1 2 3 4 5)")
    parser.add_argument("--tuning-seeds", type=int, nargs="+", help="the grid's seeds, ranked by their mean "
                        "(default: the config's tuning.seeds, else 0). One seed mis-ranks settings closer than the "
                        "tuning split's seed-to-seed spread (docs/evidence.md)")
    parser.add_argument("--work-dir", help="default: work_dirs/tune/<config name>")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="runs side by side (default: 2), each with cpu_count / jobs threads (fewer while other "
                        "densekd runners are alive on this machine)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="overrides for every run (e.g. teacher.checkpoint=...)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    protocol = load_protocol(args.config, args.grid, args.metric, args.cfg_options, args.tuning_seeds)
    out = args.work_dir or os.path.join("work_dirs", "tune", os.path.basename(default_work_dir(args.config)))
    label = os.path.basename(args.config)
    steps = tuning_steps(protocol, out, label) + arm_steps(protocol, out, label, args.seeds, student_alone=True)
    print(f"tuning {args.config}: {len(protocol.settings)} settings on the tuning split ({protocol.seeds_label}), "
          f"then the paper's, the tuned one and the student alone on seeds {args.seeds}, tested on the report split; "
          f"{len(steps)} runs, {args.jobs} side by side; logs under {out}/logs", flush=True)
    status = run_steps(steps, args.jobs, threads_per_step(args.jobs))
    failed = {name: why for name, why in status.items() if why != "done"}
    report = tuning_report(protocol, out, args.seeds, name=label)
    print("\n" + report + (f"\n{len(failed)} run(s) did not finish: " + "; ".join(failed) if failed else ""))
    print(f"written to {out}/tuning.md and tuning.json")
    if failed:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    run(main)

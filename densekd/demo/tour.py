"""The demo tour: plan every wing's steps, run them side by side on the CPU cores with a progress line and an
ETA, then print (and write to ``<out>/results.md``) one table per wing and the pictures' paths."""
import argparse
import os
import time

from ..core.errors import DensekdError, InvalidValue
from ..core.tuning import REPORT_SEEDS
from ..core.runner import clock, run_steps, threads_per_step
from .wings import DETECTION, LIDAR, SECOND, SEGMENTATION, open_vocabulary_plan, wing_plan

WINGS = ("seg", "lidar", "ov", "det", "second")
FIRST_LOOK = ("seg", "lidar", "ov")  # the detection demo and the SECOND pair run with --full (or --wings det second)
FIRST_LOOK_SCALE = 0.4  # of each config's schedule: the first look fits in 45 minutes on 2 cores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="tools/demo.py", description="densekd's embedded demo. The first look (default): one seed of each "
        "wing's headline comparison at 40%% of the configs' schedules, ~40 min on 2 CPU cores. --full: the docs' "
        "tables (the tuning protocol for every distiller, 5 paired seeds on the report split, the ablations, full schedules, the detection demo too).")
    parser.add_argument("--full", action="store_true", help="the tables of docs/: every distiller through the tuning "
                        "protocol (grid on the tuning split with seed 0; paper and tuned settings with --seeds 1 2 3 4 "
                        "5 on the report split, paired with the student alone), --ablation-seeds 0, full schedules (the OV "
                        "detectors 3x theirs, to convergence), every wing (default out: work_dirs/demo_full)")
    parser.add_argument("--wings", nargs="+", choices=WINGS, help=f"which wings (default: {' '.join(FIRST_LOOK)}; "
                        f"with --full: {' '.join(WINGS)})")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0 (--full: 1 2 3 4 5, the report seeds)")
    parser.add_argument("--ablation-seeds", type=int, nargs="*", help="seeds of the ablations (OADP: object only, "
                        "+ block; ACAM-KD: spatial only, channel only; PointDistiller: no reweighting); they run with "
                        "--full only (default there: 1, the first report seed)")
    parser.add_argument("--out", help="default: work_dirs/demo (--full: work_dirs/demo_full)")
    parser.add_argument("--schedule-scale", type=float, help="the share of each config's schedule to train "
                        f"(iterations, validation, checkpoints, LR steps; default {FIRST_LOOK_SCALE}, --full: 1)")
    parser.add_argument("--only", nargs="+", metavar="TEXT", help="run only the steps whose names contain one of "
                        "these texts (and the steps they wait for), e.g. --only 'paper setting' 'student alone': a "
                        "session too short for the whole plan runs its complete comparisons first; the tables show "
                        "whatever has finished")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="steps run side by side (default: 2), each with cpu_count / jobs threads (fewer while "
                        "other densekd runners are alive on this machine)")
    args = parser.parse_args(argv)
    args.wings = args.wings or (WINGS if args.full else FIRST_LOOK)
    args.seeds = args.seeds or (list(REPORT_SEEDS) if args.full else [0])
    args.ablation_seeds = (args.ablation_seeds if args.ablation_seeds is not None else [REPORT_SEEDS[0]]) if args.full else []
    args.schedule_scale = args.schedule_scale or (1.0 if args.full else FIRST_LOOK_SCALE)
    args.out = args.out or ("work_dirs/demo_full" if args.full else "work_dirs/demo")
    return args


def check_schedule(out, scale):
    """Refuse to mix runs of different schedule lengths in one folder (finished runs are reused, not retrained)."""
    marker, schedule = os.path.join(out, "schedule.txt"), f"schedule scale {scale:g}"
    if os.path.exists(marker):
        with open(marker) as f:
            seen = f.read().strip()
        if seen != schedule:
            raise InvalidValue(f"{out} holds runs at {seen}, this demo trains at {schedule}; pass another --out "
                               "or remove the folder")
    os.makedirs(out, exist_ok=True)
    with open(marker, "w") as f:
        f.write(schedule + "\n")


def only_steps(steps, texts):
    """The steps whose names contain one of ``texts``, with every step they wait for (however indirectly)."""
    by_name = {step.name: step for step in steps}
    wanted = [step.name for step in steps if any(text in step.name for text in texts)]
    if not wanted:
        raise InvalidValue(f"--only {' '.join(texts)}: no step's name contains any of these; the steps are named "
                           f"like {[step.name for step in steps[:3]]}")
    keep = set()
    while wanted:
        name = wanted.pop()
        if name not in keep:
            keep.add(name)
            wanted += by_name[name].after
    return [step for step in steps if step.name in keep]


def main(argv=None):
    args = parse_args(argv)
    check_schedule(args.out, args.schedule_scale)
    plan = (args.out, args.seeds, args.ablation_seeds, args.full, args.schedule_scale)
    plans = {"seg": lambda: wing_plan(SEGMENTATION, *plan), "lidar": lambda: wing_plan(LIDAR, *plan),
             "ov": lambda: open_vocabulary_plan(*plan), "det": lambda: wing_plan(DETECTION, *plan),
             "second": lambda: wing_plan(SECOND, *plan)}
    wings = [plans[name]() for name in WINGS if name in args.wings]
    steps = [step for wing in wings for step in wing.steps]
    if args.only:
        steps = only_steps(steps, args.only)
    threads = threads_per_step(args.jobs)
    expected = sum(step.seconds for step in steps) / args.jobs
    print(f"densekd demo ({'full' if args.full else 'first look'}): {len(steps)} steps of {', '.join(args.wings)}, "
          f"{args.jobs} side by side with {threads} thread(s) each; expected ~{clock(expected)} on a 2-core CPU; "
          f"logs and results under {args.out}", flush=True)
    start = time.perf_counter()
    status = run_steps(steps, args.jobs, threads)
    reports = []
    for wing in wings:
        try:
            reports.append(wing.report())
        except (OSError, KeyError, TypeError, DensekdError) as err:  # a step it reads from failed: the run log says why
            reports.append(f"{wing.name}: no table ({err})\n")
        drawn = [png for png in wing.pictures if os.path.exists(png)]
        if drawn:
            reports[-1] += "Pictures: " + ", ".join(drawn) + "\n"
    failed = {name: why for name, why in status.items() if why != "done"}
    summary = f"The demo took {clock(time.perf_counter() - start)}" + (
        f"; {len(failed)} step(s) did not finish:\n" + "\n".join(f"- {n}: {w}" for n, w in failed.items())
        if failed else ".")
    text = "\n".join(reports) + "\n" + summary + "\n"
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print("\n" + text, flush=True)
    if failed:
        raise SystemExit(1)

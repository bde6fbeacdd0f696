"""The embedded demo: make the shapes data, train a teacher, the student alone and the distilled
student, evaluate them and print one table. Re-running skips finished runs and resumes
interrupted ones.

    python tools/demo.py [--seeds 0 [1 2 ...]] [--out work_dirs/demo]

The teacher is trained once (seed 0); the student alone and the distilled student are trained
once per seed, and with several seeds the table adds their mean and spread.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from densekd.core.report import markdown_table

TEACHER = ("teacher (R18-FPN, width 64)", "configs/demo/faster_rcnn_teacher_shapes.py")
STUDENTS = [  # name, config, distilled from the teacher
    ("student alone (R18-FPN, width 16)", "configs/demo/faster_rcnn_student_shapes.py", False),
    ("student + feature mimic (FPN, MSE)", "configs/demo/faster_rcnn_mimic_shapes.py", True),
]
COLUMNS = ["model", "seed", "bbox mAP", "mAP50", "iterations", "train time (s)"]


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    subprocess.run([sys.executable, *cmd], check=True)


def train_and_test(config, work_dir, seed, options=()):
    """Train (or resume, or skip when finished) and test one config; return a table row."""
    summary_path = os.path.join(work_dir, "train_summary.json")
    options = ["--cfg-options", f"seed={seed}", *options]
    if not os.path.exists(summary_path):
        resume = ["--resume"] if os.path.exists(os.path.join(work_dir, "last.ckpt")) else []
        run(["tools/train.py", config, "--work-dir", work_dir, *options, *resume])
    if not os.path.exists(os.path.join(work_dir, "metrics.json")):
        run(["tools/test.py", config, os.path.join(work_dir, "last.ckpt"), "--work-dir", work_dir])
    with open(os.path.join(work_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(summary_path) as f:
        summary = json.load(f)
    return {"seed": seed, "bbox mAP": metrics["coco/bbox_mAP"], "mAP50": metrics["coco/bbox_mAP_50"],
            "iterations": summary["iterations"], "train time (s)": round(summary["train_time_s"])}


def mean_row(name, rows):
    """Mean ± sample standard deviation of the metric columns over seeds."""
    row = {"model": f"{name}: mean of {len(rows)}", "seed": "-"}
    for col in ("bbox mAP", "mAP50", "train time (s)"):
        values = [r[col] for r in rows]
        digits = 0 if col == "train time (s)" else 3
        row[col] = f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
    row["iterations"] = rows[0]["iterations"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="work_dirs/demo")
    args = parser.parse_args(argv)
    run(["tools/make_demo_data.py", "--out", "data/shapes"])

    teacher_dir = os.path.join(args.out, "teacher")
    rows = [dict(model=TEACHER[0], **train_and_test(TEACHER[1], teacher_dir, seed=0))]
    teacher_option = f"teacher.checkpoint={teacher_dir}/last.ckpt"
    for name, config, distilled in STUDENTS:
        runs = []
        for seed in args.seeds:
            work_dir = os.path.join(args.out, f"seed{seed}", os.path.basename(config)[:-3])
            runs.append(dict(model=name, **train_and_test(config, work_dir, seed, [teacher_option] if distilled else [])))
        rows += runs
        if len(runs) > 1:
            rows.append(mean_row(name, runs))

    table = markdown_table(rows, COLUMNS)
    seeds = " ".join(map(str, args.seeds))
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"Demo results (shapes val), seeds {seeds}\n\n{table}\n")
    print(f"\nDemo results (shapes val, COCO bbox metrics by mmdet's CocoMetric), seeds {seeds}:\n{table}")


if __name__ == "__main__":
    main()

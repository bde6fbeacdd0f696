"""The embedded demo: make the shapes data, train a teacher, the student alone and the distilled
student, evaluate all three and print one table. Re-running skips finished runs and resumes
interrupted ones.

    python tools/demo.py [--seed S] [--out work_dirs/demo]
"""
import argparse
import json
import os
import subprocess
import sys

from densekd.core.report import markdown_table

RUNS = [  # name, config
    ("teacher (R18 x4 wide)", "configs/demo/faster_rcnn_teacher_shapes.py"),
    ("student alone (R18 narrow)", "configs/demo/faster_rcnn_student_shapes.py"),
    ("student + feature mimic (FPN, MSE)", "configs/demo/faster_rcnn_mimic_shapes.py"),
]


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    subprocess.run([sys.executable, *cmd], check=True)


def train_and_test(config, work_dir, seed):
    """Train (or resume, or skip if finished) and test one config; return its metrics and summary."""
    summary_path = os.path.join(work_dir, "train_summary.json")
    options = ["--cfg-options", f"seed={seed}"]
    if config.endswith("mimic_shapes.py"):  # the teacher trained by this demo, same seed
        options.append(f"teacher.checkpoint={os.path.dirname(work_dir)}/teacher/last.ckpt")
    if not os.path.exists(summary_path):
        resume = ["--resume"] if os.path.exists(os.path.join(work_dir, "last.ckpt")) else []
        run(["tools/train.py", config, "--work-dir", work_dir, *options, *resume])
    if not os.path.exists(os.path.join(work_dir, "metrics.json")):
        run(["tools/test.py", config, os.path.join(work_dir, "last.ckpt"), "--work-dir", work_dir])
    with open(os.path.join(work_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(summary_path) as f:
        summary = json.load(f)
    return metrics, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="work_dirs/demo")
    args = parser.parse_args(argv)
    run(["tools/make_demo_data.py", "--out", "data/shapes"])
    root = os.path.join(args.out, f"seed{args.seed}")
    rows = []
    for (name, config), key in zip(RUNS, ("teacher", "student", "mimic")):
        metrics, summary = train_and_test(config, os.path.join(root, key), args.seed)
        rows.append({"model": name, "bbox mAP": metrics["coco/bbox_mAP"],
                     "mAP50": metrics["coco/bbox_mAP_50"],
                     "iterations": summary["iterations"],
                     "train time (s)": summary["train_time_s"]})
    table = markdown_table(rows, ["model", "bbox mAP", "mAP50", "iterations", "train time (s)"])
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write(f"Demo results, seed {args.seed}\n\n{table}\n")
    print(f"\nDemo results (shapes val, seed {args.seed}):\n{table}")


if __name__ == "__main__":
    main()

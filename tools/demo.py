"""The embedded demo: make the shapes data, train a teacher, the student alone and the distilled
students (feature mimic, ACAM-KD), evaluate them and print one table; then ACAM-KD on segmentation
(synthetic street scenes in the Cityscapes layout: teacher, student alone, + logit mimic, + ACAM-KD,
and on the ablation seeds its spatial-only and channel-only variants); then PointDistiller on 3D
detection (synthetic LiDAR scenes in the KITTI layout: PointPillars teacher, student alone, + pillar
feature mimic, + PointDistiller, and on the ablation seeds PointDistiller without reweighting); then OADP: its teacher side (the demo CLIP, the
base-class RPN, its proposals, the CLIP feature cache and the class text embeddings) and the
open-vocabulary detectors (the baseline, OADP, and OADP's ablations), with an AP50 table over
novel / base / all classes. Re-running skips finished runs and resumes interrupted ones.

    python tools/demo.py [--seeds 0 [1 2 ...]] [--ablation-seeds 0 ...] [--out work_dirs/demo] [--skip-det] [--skip-seg] [--skip-lidar] [--skip-ov]

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
    ("student + ACAM-KD (FPN)", "configs/demo/faster_rcnn_acam_shapes.py", True),
]
COLUMNS = ["model", "seed", "bbox mAP", "mAP50", "iterations", "train time (s)"]
RPN_CONFIG = "configs/demo/rpn_shapes_base.py"
CLIP_FEATURES_CONFIG = "configs/demo/clip_features_shapes.py"
RECALL_COLUMNS = ["R50@10", "R50@100", "AR@100"]


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    subprocess.run([sys.executable, *cmd], check=True)


def train_and_test(config, work_dir, seed, options=()):
    """Train (or resume, or skip when finished) and test one config; return its metrics and summary.
    A run that diverged (its summary says so) has no metrics: ``({}, summary)``."""
    summary_path = os.path.join(work_dir, "train_summary.json")
    options = ["--cfg-options", f"seed={seed}", *options]
    if not os.path.exists(summary_path):
        resume = ["--resume"] if os.path.exists(os.path.join(work_dir, "last.ckpt")) else []
        try:
            run(["tools/train.py", config, "--work-dir", work_dir, *options, *resume])
        except subprocess.CalledProcessError:
            if not os.path.exists(summary_path):  # not a divergence: a real failure
                raise
    with open(summary_path) as f:
        summary = json.load(f)
    if summary.get("diverged"):
        print(f"{work_dir}: {summary['diverged']}", flush=True)
        return {}, summary
    if not os.path.exists(os.path.join(work_dir, "metrics.json")):
        run(["tools/test.py", config, os.path.join(work_dir, "last.ckpt"), "--work-dir", work_dir, *options])
    with open(os.path.join(work_dir, "metrics.json")) as f:
        metrics = json.load(f)
    return metrics, summary


def seed_rows(name, seeds, row, mean_columns):
    """``row(seed)`` for each seed, then their mean ± spread when there are several."""
    runs = [row(seed) for seed in seeds]
    return runs + ([mean_row(name, runs, mean_columns)] if len(runs) > 1 else [])


def diverged_cell(summary):
    """'diverged at step N' for a run that stopped on a non-finite loss."""
    return f"diverged at step {summary['iterations']}"


def detection_row(config, work_dir, seed, options=()):
    """Train and test a detector; its row of the results table."""
    metrics, summary = train_and_test(config, work_dir, seed, options)
    scores = {"bbox mAP": metrics["coco/bbox_mAP"], "mAP50": metrics["coco/bbox_mAP_50"]} if metrics else \
        {"bbox mAP": diverged_cell(summary)}
    return {"seed": seed, **scores, "iterations": summary["iterations"], "train time (s)": round(summary["train_time_s"])}


def mean_row(name, rows, columns=("bbox mAP", "mAP50", "train time (s)")):
    """Mean ± sample standard deviation of the metric ``columns`` over seeds."""
    rows = [r for r in rows if not str(r[columns[0]]).startswith("diverged")]
    if len(rows) < 2:
        return {"model": f"{name}: too few finished runs for a mean", "seed": "-"}
    row = {"model": f"{name}: mean of {len(rows)} finished runs", "seed": "-"}
    for col in columns:
        values = [r[col] for r in rows]
        digits = 0 if col == "train time (s)" else 3
        row[col] = f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
    if "iterations" in rows[0]:
        row["iterations"] = rows[0]["iterations"]
    return row


def ov_teacher(out):
    """OADP's teacher side on the shapes data: OV split, demo CLIP, base-class RPN, proposals, CLIP features."""
    run(["tools/prepare_ov_coco.py", "--dataset", "shapes"])
    clip = os.path.join(out, "clip", "demo_clip.safetensors")
    if not os.path.exists(clip):
        run(["tools/pretrain_demo_clip.py", "--out", clip])
    rpn_dir = os.path.join(out, "rpn_shapes_base")
    recall, _ = train_and_test(RPN_CONFIG, rpn_dir, seed=0)
    for split in ("train", "val"):
        run(["tools/generate_proposals.py", RPN_CONFIG, os.path.join(rpn_dir, "last.ckpt"), "--split", split,
             "--out", os.path.join(out, "proposals", split)])
    run(["tools/extract_clip_features.py", CLIP_FEATURES_CONFIG, "--split", "train",
         "--out", os.path.join(out, "clip_features", "train"), "--cfg-options", f"clip_teacher.pretrained={clip}",
         f"clip_features.splits.train.proposals={os.path.join(out, 'proposals', 'train')}"])
    text = os.path.join(out, "clip", "shapes_text.safetensors")
    if not os.path.exists(text):
        run(["tools/build_text_embeddings.py", "--teacher", "configs/demo/clip_teacher_shapes.py",
             "--vocabulary", "shapes", "--out", text])
    report = os.path.join(out, "clip_proposals")
    run(["tools/clip_proposal_report.py", "--cache", os.path.join(out, "clip_features", "train"), "--text", text,
         "--ann", "data/shapes/annotations/instances_train.json", "--out", report])
    with open(os.path.join(report, "report.md")) as f:
        on_proposals = f.read()
    with open(os.path.splitext(clip)[0] + ".json") as f:
        zero_shot = json.load(f)["zero_shot_table"]
    rows = [{"classes": split, **{k: recall[f"proposal/{split}_{k}"] for k in RECALL_COLUMNS}}
            for split in ("base", "novel")]
    return (f"Demo CLIP zero-shot top-1 accuracy (%) on the val boxes:\n{zero_shot}\n\n"
            f"Demo CLIP object-aware top-1 on the cached train proposals (the targets OADP distils; "
            f"{report}/confusion.png):\n{on_proposals}\n\n"
            f"Base-class RPN, proposal recall on val:\n{markdown_table(rows, ['classes', *RECALL_COLUMNS])}\n")


OADP_CONFIG = "configs/demo/oadp_shapes.py"
OV_RUNS = [  # name, config, work-dir name, --cfg-options, ablation (run on the ablation seeds only)
    ("OV baseline (text classifier, no distillation)", "configs/demo/ovd_baseline_shapes.py",
     "ovd_baseline_shapes", [], False),
    ("OADP: object only", OADP_CONFIG, "oadp_object",
     ["distiller.levels=[object]", "model.roi_head.block_head=None", "model.roi_head.global_head=None"], True),
    ("OADP: object + block", OADP_CONFIG, "oadp_object_block",
     ["distiller.levels=[object,block]", "model.roi_head.global_head=None"], True),
    ("OADP: object + block + global", OADP_CONFIG, "oadp_shapes", [], False),
]
OV_COLUMNS = ["model", "seed", "AP50 novel", "AP50 base", "AP50 all", "train time (s)"]
OV_METRICS = {"AP50 novel": "ov/AP50_novel", "AP50 base": "ov/AP50_base", "AP50 all": "ov/AP50_all"}


def metric_row(name, config, work_dir, seed, metric_keys, options=(), digits=None):
    """Train and test one model; its table row: ``{column: metrics[key]}`` for ``metric_keys`` (rounded to
    ``digits`` when given), or "diverged at step N" in the first column."""
    metrics, summary = train_and_test(config, work_dir, seed, options)
    scores = {col: metrics[key] if digits is None else round(metrics[key], digits) for col, key in metric_keys.items()} \
        if metrics else {next(iter(metric_keys)): diverged_cell(summary)}
    return {"model": name, "seed": seed, **scores, "train time (s)": round(summary["train_time_s"])}


def ov_row(name, config, work_dir, seed, options=()):
    """Train and test an open-vocabulary detector; its row of the OV table."""
    return metric_row(name, config, work_dir, seed, OV_METRICS, options)


def ov_detectors(out, seeds, ablation_seeds):
    """The OV demo: baseline vs OADP (and its ablations) on the shapes base/novel split."""
    text = os.path.join(out, "clip", "shapes_text.safetensors")  # written by ov_teacher
    shared = [f"model.roi_head.vocabulary.text_embeddings={text}",
              f"load_from={os.path.join(out, 'rpn_shapes_base', 'last.ckpt')}"]  # the base-class pretraining
    cache = [f"teacher.model.cache={os.path.join(out, 'clip_features', 'train')}"]
    rows = []
    for name, config, work, options, ablation in OV_RUNS:
        opts = shared + (cache if config == OADP_CONFIG else []) + options
        rows += seed_rows(name, ablation_seeds if ablation else seeds,
                          lambda seed: ov_row(name, config, os.path.join(out, f"seed{seed}", work), seed, opts),
                          [*OV_METRICS, "train time (s)"])
    return markdown_table(rows, OV_COLUMNS)


def detection(out, seeds):
    """The detection demo on the shapes data: teacher, student alone, + feature mimic, + ACAM-KD."""
    run(["tools/make_demo_data.py", "--out", "data/shapes"])
    teacher_dir = os.path.join(out, "teacher")
    rows = [dict(model=TEACHER[0], **detection_row(TEACHER[1], teacher_dir, seed=0))]
    teacher_option = f"teacher.checkpoint={teacher_dir}/last.ckpt"
    for name, config, distilled in STUDENTS:
        options = [teacher_option] if distilled else []
        rows += seed_rows(name, seeds, lambda seed: dict(model=name, **detection_row(
            config, os.path.join(out, f"seed{seed}", os.path.basename(config)[:-3]), seed, options)),
            ("bbox mAP", "mAP50", "train time (s)"))

    table = markdown_table(rows, COLUMNS)
    seed_names = " ".join(map(str, seeds))
    with open(os.path.join(out, "results.md"), "a") as f:
        f.write(f"Demo results (shapes val), seeds {seed_names}\n\n{table}\n")
    print(f"\nDemo results (shapes val, COCO bbox metrics by mmdet's CocoMetric), seeds {seed_names}:\n{table}")


SEG_TEACHER = ("teacher (DeepLabV3 R18, width 32)", "configs/demo/deeplabv3_teacher_streets.py")
SEG_STUDENT_CONFIG = "configs/demo/deeplabv3_student_streets.py"  # the one run without the teacher
ACAM_SEG_CONFIG = "configs/demo/deeplabv3_acam_streets.py"
SEG_RUNS = [  # name, config, work-dir name, --cfg-options, ablation (run on the ablation seeds only)
    ("student alone (DeepLabV3 R18, width 8)", SEG_STUDENT_CONFIG, "deeplabv3_student_streets", [], False),
    ("student + logit mimic (MSE)", "configs/demo/deeplabv3_mimic_streets.py", "deeplabv3_mimic_streets", [], False),
    ("student + ACAM-KD", ACAM_SEG_CONFIG, "deeplabv3_acam_streets", [], False),
    ("ACAM-KD: spatial masks only", ACAM_SEG_CONFIG, "deeplabv3_acam_spatial", ["distiller.masks=[spatial]"], True),
    ("ACAM-KD: channel masks only", ACAM_SEG_CONFIG, "deeplabv3_acam_channel", ["distiller.masks=[channel]"], True),
]
SEG_COLUMNS = ["model", "seed", "mIoU", "mAcc", "aAcc", "train time (s)"]


def seg_row(name, config, work_dir, seed, options=()):
    """Train and test a segmentor; its row of the segmentation table."""
    return metric_row(name, config, work_dir, seed, {k: k for k in ("mIoU", "mAcc", "aAcc")}, options)


def segmentation(out, seeds, ablation_seeds):
    """The segmentation demo on the synthetic street scenes: teacher, student alone, + mimic, + ACAM-KD."""
    run(["tools/make_demo_data.py", "--dataset", "cityscapes"])
    teacher_dir = os.path.join(out, "seg_teacher")
    rows = [seg_row(SEG_TEACHER[0], SEG_TEACHER[1], teacher_dir, seed=0)]
    teacher_option = f"teacher.checkpoint={teacher_dir}/last.ckpt"
    for name, config, work, options, ablation in SEG_RUNS:
        options = ([] if config == SEG_STUDENT_CONFIG else [teacher_option]) + options
        rows += seed_rows(name, ablation_seeds if ablation else seeds,
                          lambda seed: seg_row(name, config, os.path.join(out, f"seed{seed}", work), seed, options),
                          ["mIoU", "mAcc", "aAcc", "train time (s)"])
    return markdown_table(rows, SEG_COLUMNS)


LIDAR_TEACHER = ("teacher (PointPillars, widths / 2)", "configs/demo/pointpillars_teacher_lidar.py")
LIDAR_STUDENT_CONFIG = "configs/demo/pointpillars_student_lidar.py"  # the one run without the teacher
LIDAR_RUNS = [  # name, config, ablation (run on the ablation seeds only)
    ("student alone (PointPillars, widths / 4)", LIDAR_STUDENT_CONFIG, False),
    ("student + pillar feature mimic (MSE)", "configs/demo/pointpillars_mimic_lidar.py", False),
    ("student + PointDistiller", "configs/demo/pointpillars_pointdistiller_lidar.py", False),
    ("PointDistiller without reweighting", "configs/demo/pointpillars_pointdistiller_noreweight_lidar.py", True),
]
KITTI_METRIC = "Kitti metric/pred_instances_3d/KITTI/"
LIDAR_METRICS = {"Car BEV": "Car_BEV_AP40_moderate_strict", "Car 3D": "Car_3D_AP40_moderate_strict",
                 "mean BEV": "Overall_BEV_AP40_moderate", "mean 3D": "Overall_3D_AP40_moderate"}
LIDAR_COLUMNS = ["model", "seed", *LIDAR_METRICS, "train time (s)"]


def lidar_row(name, config, work_dir, seed, options=()):
    """Train and test a LiDAR detector; its row of the 3D table."""
    keys = {col: KITTI_METRIC + key for col, key in LIDAR_METRICS.items()}
    return metric_row(name, config, work_dir, seed, keys, options, digits=1)


def lidar(out, seeds, ablation_seeds):
    """The 3D demo on the synthetic LiDAR scenes: PointPillars teacher, student alone, + mimic, + PointDistiller."""
    run(["tools/make_demo_data.py", "--dataset", "kitti"])
    teacher_dir = os.path.join(out, "lidar_teacher")
    rows = [lidar_row(*LIDAR_TEACHER, teacher_dir, seed=0)]
    teacher_option = [f"teacher.checkpoint={teacher_dir}/last.ckpt"]
    for name, config, ablation in LIDAR_RUNS:
        options = [] if config == LIDAR_STUDENT_CONFIG else teacher_option
        work = os.path.basename(config)[:-3]
        rows += seed_rows(name, ablation_seeds if ablation else seeds,
                          lambda seed: lidar_row(name, config, os.path.join(out, f"seed{seed}", work), seed, options),
                          [*LIDAR_METRICS, "train time (s)"])
    return markdown_table(rows, LIDAR_COLUMNS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="work_dirs/demo")
    parser.add_argument("--skip-ov", action="store_true", help="leave out OADP (teacher side and detectors)")
    parser.add_argument("--skip-det", action="store_true", help="leave out the detection (shapes) demo")
    parser.add_argument("--skip-seg", action="store_true", help="leave out the segmentation (ACAM-KD) demo")
    parser.add_argument("--skip-lidar", action="store_true", help="leave out the 3D (PointDistiller) demo")
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[],
                        help="seeds of the ablations (OADP: object only, + block; ACAM-KD: spatial only, "
                             "channel only; PointDistiller: no reweighting); default: none")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    open(os.path.join(args.out, "results.md"), "w").close()  # each part appends its table
    if not args.skip_det:
        detection(args.out, args.seeds)
    if not args.skip_seg:
        table = segmentation(args.out, args.seeds, args.ablation_seeds)
        report = f"\nSegmentation (synthetic street scenes val, 19 Cityscapes classes; %):\n{table}\n"
        with open(os.path.join(args.out, "results.md"), "a") as f:
            f.write(report)
        print(report)
    if not args.skip_lidar:
        table = lidar(args.out, args.seeds, args.ablation_seeds)
        report = (f"\n3D detection (synthetic LiDAR scenes val, KITTI AP40 moderate, strict IoU; mean = "
                  f"Car / Pedestrian / Cyclist):\n{table}\n")
        with open(os.path.join(args.out, "results.md"), "a") as f:
            f.write(report)
        print(report)
    if not args.skip_ov:
        report = ov_teacher(args.out)
        table = ov_detectors(args.out, args.seeds, args.ablation_seeds)
        report += (f"\nOpen-vocabulary detection (shapes val; star, heart, crescent never boxed in training; "
                   f"AP50 by OVCocoAP50Metric):\n{table}\n")
        with open(os.path.join(args.out, "results.md"), "a") as f:
            f.write(f"\n{report}")
        print(f"\n{report}")


if __name__ == "__main__":
    main()

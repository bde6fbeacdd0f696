"""What the demo runs for each wing — its data, teacher, students and picture as :class:`Step` s — and the
table it prints from their results. The first look runs each wing's headline comparison at a shortened
schedule with one seed; ``full`` runs every distiller through the tuning protocol (densekd/core/tuning.py) at
the configs' own schedules and prints paired tables over the report seeds (plus the ablations)."""
import glob
import os
import statistics
from dataclasses import dataclass, field
from typing import Callable

from ..core.errors import DensekdError, MissingFile
from ..core.evidence import comparison_table
from ..core.grad_shares import METRIC_PREFIX, grad_share_table, plot_grad_shares, read_grad_shares
from ..core.report import markdown_table
from ..core.runner import Step, finished_metrics, read_result, schedule_options, train_and_test
from ..core.training_log import CONVERGENCE_COLUMNS, convergence_row, plot_val_curves, read_logged, val_curve
from ..core.tuning import arm_steps, choice_check, load_protocol, paired_arms, protocol_arms, report_dir, tuning_steps, tuning_table
from ..data.manifest import read_json_or_none


@dataclass
class Run:
    """One trained model of a wing's table."""

    name: str
    config: str
    work: str  # its work-dir name under <out>/seed<N>/ (teachers: under <out>/)
    options: tuple = ()
    distilled: bool = True  # needs the wing's teacher
    headline: bool = True  # in the first look; otherwise only with --full
    ablation: bool = False  # run on the ablation seeds only
    tuned: bool = False  # with --full: through the tuning protocol (its config's `tuning` grid), paper + tuned rows
    seconds: float = 300.0  # expected training time at the config's schedule, one thread


RUN_OVERHEAD_S = 100  # a run's start-up, validation and test, whatever its schedule


def run_seconds(run, scale):
    """Expected time of ``run`` (train + test) at ``scale`` of its schedule."""
    return RUN_OVERHEAD_S + run.seconds * scale


@dataclass
class Wing:
    """A wing's part of the demo: its steps, and the report it prints once they have run."""

    name: str
    steps: list
    report: Callable
    pictures: list = field(default_factory=list)


@dataclass
class WingSpec:
    """The fixed description of a wing's comparison: data, teacher, runs, metrics, picture."""

    name: str
    title: str
    data: list  # tools/make_demo_data.py arguments
    teacher: Run
    runs: list
    metrics: dict  # table column -> metrics.json key
    digits: int = 3
    # Below full schedules (the first look), the teacher trains this multiple of the students' share of its own
    # schedule, at most all of it; at full schedules, all of it.
    teacher_factor: float = 1.0
    picture: tuple = ()  # (tools/visualize.py mode, () -> the report images or scans to draw)


def run_rows(name, work_dirs, metrics, digits):
    """One table row per seed's run (``{seed: work_dir}``), then their mean ± sd when there are several;
    scores with ``digits`` decimals."""
    rows = [result_row(name, work_dir, seed, metrics) for seed, work_dir in work_dirs.items()]
    finished = [r for r in rows if isinstance(r[next(iter(metrics))], (int, float))]
    summary = []
    if len(rows) > 1 and len(finished) < 2:
        summary = [{"model": f"{name}: too few finished runs for a mean", "seed": "-"}]
    elif len(rows) > 1:
        summary = [{"model": f"{name}: mean of {len(finished)} finished runs", "seed": "-"}]
        for col in [*metrics, "train time (s)"]:
            values, d = [r[col] for r in finished], 0 if col == "train time (s)" else digits
            summary[0][col] = f"{statistics.mean(values):.{d}f} ± {statistics.stdev(values):.{d}f}"
    for row in finished:
        row.update({col: f"{row[col]:.{digits}f}" for col in metrics})
    return rows + summary


def result_row(name, work_dir, seed, metrics):
    """A finished run's row: its metrics, or why there are none (diverged, did not finish)."""
    result = read_result(work_dir)
    first = next(iter(metrics))
    if result is None:
        return {"model": name, "seed": seed, first: "did not finish", "train time (s)": "-"}
    values, summary = result
    scores = {col: values[key] for col, key in metrics.items()} if values else \
        {first: f"diverged at step {summary['iterations']}"}
    return {"model": name, "seed": seed, **scores, "train time (s)": round(summary["train_time_s"])}


def log_path(out, name):
    return os.path.join(out, "logs", f"{name}.log")


def run_plan(wing, runs, out, seeds, ablation_seeds, full, scale, options, after):
    """The steps that train and test ``runs`` (each on ``seeds``, an ablation on ``ablation_seeds``; the runs
    that are not headline ones only with ``full``) and ``{run name: {seed: work dir}}``. ``options(run)``:
    the run's --cfg-options besides its schedule's and its own; ``after(run)``: the steps it waits for."""
    steps, work_dirs = [], {}
    for run in runs:
        if not (full or run.headline):
            continue
        work_dirs[run.name] = {}
        run_options = schedule_options(run.config, scale) + options(run) + list(run.options)
        for seed in (ablation_seeds if run.ablation else seeds):
            work_dir = work_dirs[run.name][seed] = os.path.join(out, f"seed{seed}", run.work)
            steps.append(Step(f"{wing}: {run.name} (seed {seed})",
                              lambda tool, c=run.config, w=work_dir, s=seed, o=run_options: train_and_test(
                                  tool, c, w, s, o),
                              after=after(run), seconds=run_seconds(run, scale),
                              log=log_path(out, f"seed{seed}_{run.work}")))
    return steps, work_dirs


def picture_models(runs, work_dirs):
    """``(name, config, work dir of its first seed)`` of each planned run that is not an ablation."""
    return [(run.name, run.config, work_dirs[run.name][min(work_dirs[run.name])])
            for run in runs if run.name in work_dirs and not run.ablation]


def table_rows(runs, work_dirs, metrics, digits):
    """The table rows of every planned run (see :func:`run_rows`)."""
    return [row for run in runs if run.name in work_dirs
            for row in run_rows(run.name, work_dirs[run.name], metrics, digits)]


def option_dict(options):
    """``['a=1', 'b=x']`` -> ``{'a': '1', 'b': 'x'}``."""
    return dict(option.split("=", 1) for option in options)


def wing_plan(spec, out, seeds, ablation_seeds, full, scale):
    """The steps of a teacher / students wing (segmentation, 3D, detection) and its report; ``full`` adds the
    runs that are not headline ones and tunes the ``tuned`` ones, ``scale`` shortens every schedule."""
    data = Step(f"{spec.name}: demo data", lambda tool: tool("tools/make_demo_data.py", *spec.data),
                seconds=40, log=log_path(out, f"{spec.name}_data"))
    teacher_dir = os.path.join(out, spec.teacher.work)
    teacher_scale = scale if scale >= 1 else min(1.0, scale * spec.teacher_factor)
    teacher_schedule = schedule_options(spec.teacher.config, teacher_scale)
    teacher = Step(f"{spec.name}: {spec.teacher.name}", lambda tool: train_and_test(
        tool, spec.teacher.config, teacher_dir, 0, teacher_schedule),
        after=(data.name,), seconds=run_seconds(spec.teacher, teacher_scale), log=log_path(out, spec.teacher.work))
    teacher_option = [f"teacher.checkpoint={teacher_dir}/last.ckpt"]
    plain = [run for run in spec.runs if not (full and run.tuned)]
    students, work_dirs = run_plan(
        spec.name, plain, out, seeds, ablation_seeds, full, scale,
        options=lambda run: teacher_option if run.distilled else [],
        after=lambda run: (data.name, teacher.name) if run.distilled else (data.name,))
    protocols = [(run, load_protocol(run.config, cfg_options=option_dict(
        teacher_option + schedule_options(run.config, scale) + list(run.options))))
        for run in spec.runs if full and run.tuned]
    for run, protocol in protocols:
        label, run_out = f"{spec.name}: {run.name}", os.path.join(out, run.work)
        students += tuning_steps(protocol, run_out, label, (data.name, teacher.name), run_seconds(run, scale)) + \
            arm_steps(protocol, run_out, label, seeds, after=(data.name, teacher.name), seconds=run_seconds(run, scale))
    png = os.path.join(out, f"{spec.name}_predictions.png")
    models = [("teacher", spec.teacher.config, teacher_dir)] + picture_models(plain, work_dirs) + [
        (run.name, run.config, report_dir(os.path.join(out, run.work), protocol.paper.slug, min(seeds)))
        for run, protocol in protocols]
    mode, inputs = spec.picture
    draw = Step(f"{spec.name}: picture", lambda tool: picture(tool, mode, inputs(), models, png),
                after=(teacher.name, *(s.name for s in students)), seconds=40,
                log=log_path(out, f"{spec.name}_picture"))

    def report():
        if full:
            return paired_report(spec, out, teacher_dir, plain, work_dirs, protocols, seeds)
        rows = run_rows(spec.teacher.name, {0: teacher_dir}, spec.metrics, spec.digits) + \
            table_rows(spec.runs, work_dirs, spec.metrics, spec.digits)
        return (f"{spec.title}\n{markdown_table(rows, ['model', 'seed', *spec.metrics, 'train time (s)'])}\n"
                f"{ONE_SEED_NOTE}\n")

    pictures = [png] + ([os.path.join(out, f"{spec.name}_grad_shares.png")] if full else [])
    return Wing(spec.name, [data, teacher, *students, draw], report, pictures)


ONE_SEED_NOTE = ("One seed ranks nothing: differences here are not evidence. The paired tables over 5 seeds on the "
                 "report split come from `make demo-full` (docs/demo.md).")


def paired_report(spec, out, teacher_dir, plain, work_dirs, protocols, seeds):
    """The full demo's table: the teacher, the student alone, each tuned distiller at the paper's setting and at
    the tuned one (paired with the student alone over the seeds all of them finished), then the ablations
    (other seeds, not paired); and each distiller's grid on the tuning split."""
    tuned = {}
    for run, protocol in protocols:
        tuned.update(protocol_arms(protocol, os.path.join(out, run.work), seeds, run.name))
    table = paired_table((spec.teacher.name, finished_metrics({0: teacher_dir})), plain, work_dirs, spec.metrics,
                         spec.digits, tuned)
    grids = "\n\n".join(grid_report(run, protocol, os.path.join(out, run.work), seeds, spec.digits)
                        for run, protocol in protocols)
    shares = grad_share_report({f"{run.name}, paper setting (seed {min(seeds)})": report_dir(
        os.path.join(out, run.work), protocol.paper.slug, min(seeds)) for run, protocol in protocols},
        os.path.join(out, f"{spec.name}_grad_shares.png"))
    return f"{spec.title}\n{table}\n{grids}\n\n{shares}"


def grid_report(run, protocol, out, seeds, digits):
    """A distiller's grid on the tuning split and whether its choice holds over the report seeds there."""
    check = choice_check(protocol, out, seeds, digits)
    return f"{run.name}, the grid on the tuning split:\n\n{tuning_table(protocol, out)}" + (f"\n\n{check}" if check else "")


def paired_table(teacher, runs, work_dirs, metrics, digits, tuned=None):
    """The paired comparison of a wing's report runs: the ``teacher`` (``(name, {seed: metrics})``, one run, not
    paired), the student alone (the first run not distilled: the baseline), the other headline runs and the
    ``tuned`` arms (``{arm: {seed: work dir}}``) paired with it over the seeds every one of them finished, then the
    ablations (their own seeds, not paired); a note names the seeds left out and the runs that diverged."""
    baseline = next(run.name for run in runs if not run.distilled)
    planned = [run for run in runs if run.name in work_dirs]
    ablations = [run.name for run in planned if run.ablation]
    arms, note = paired_arms({**{run.name: work_dirs[run.name] for run in planned}, **(tuned or {})}, ablations)
    order = [name for name in arms if name not in ablations] + ablations  # the ablations last
    table = comparison_table({teacher[0]: teacher[1], **{name: arms[name] for name in order}}, baseline, metrics,
                             digits, unpaired=[teacher[0], *ablations])
    return f"{table}\n" + (f"\n{note}\n" if note else "\n")


def convergence_report(runs, work_dirs, metric, tolerance, png):
    """Whether every finished run of ``runs`` stopped rising on ``metric`` (the tuning split's validations during
    training, :func:`densekd.core.training_log.plateau`): a table, and the curves drawn into ``png``."""
    finished = {f"{run.name} (seed {seed})": work_dir for run in runs if run.name in work_dirs
                for seed, work_dir in work_dirs[run.name].items() if read_result(work_dir)}
    if not finished:
        return "Convergence: no finished run yet.\n"
    curves = {name: val_curve(work_dir, metric) for name, work_dir in finished.items()}
    plot_val_curves(curves, metric, png)
    rows = [convergence_row(name, curve, tolerance) for name, curve in curves.items()]
    return (f"Convergence: {metric} on the tuning split during training; the plateau is the first validation that "
            f"no later one beats by more than {tolerance} ({png}):\n\n"
            f"{markdown_table(rows, CONVERGENCE_COLUMNS)}\n")


def grad_share_report(work_dirs, png):
    """The gradient shares over training of each run in ``{label: work dir}``: a table per run, drawn into ``png``;
    a run not trained yet, or without the diagnostic, is named with the reason."""
    runs = {}
    for label, work_dir in work_dirs.items():
        try:
            runs[label] = read_grad_shares(work_dir)
        except DensekdError as err:
            runs[label] = str(err)
    drawn = {label: series for label, series in runs.items() if not isinstance(series, str)}
    if drawn:
        plot_grad_shares(drawn, png)
    return "".join(f"Gradient shares, {label}:\n\n{series if isinstance(series, str) else grad_share_table(series)}\n\n"
                   for label, series in runs.items())


def model_args(models):
    """``--model NAME CONFIG CKPT`` for each ``(name, config, work_dir)``."""
    return [arg for name, config, work_dir in models
            for arg in ("--model", name, config, os.path.join(work_dir, "last.ckpt"))]


def picture(tool, mode, inputs, models, png):
    """``tools/visualize.py --mode MODE``: each model's predictions on ``inputs`` (images or LiDAR scans). Models
    without a checkpoint are left out, named (runs put back from an archive keep none, unless others learn from
    them); refused when fewer than two are left."""
    has_checkpoint = {name: os.path.isfile(os.path.join(work_dir, "last.ckpt")) for name, _, work_dir in models}
    drawn = [model for model in models if has_checkpoint[model[0]]]
    left_out = [name for name, present in has_checkpoint.items() if not present]
    if len(drawn) < 2:
        raise MissingFile(f"{png}: {len(drawn)} of the {len(models)} models have a checkpoint (none: "
                          f"{', '.join(left_out)}): runs put back from an archive keep none; retrain them to draw them")
    if left_out:
        print(f"{png}: left out {', '.join(left_out)} (no checkpoint: put back from an archive)")
    tool("tools/visualize.py", "--mode", mode, *model_args(drawn), "--images", *inputs, "--out", png)


def report_images(pattern, n=3):
    """The first ``n`` images of the report split matching ``pattern`` (the pictures show what the tables score)."""
    return lambda: sorted(glob.glob(pattern))[:n]


def report_scans(n=2):
    def scans():
        with open("data/kitti_synthetic/ImageSets/test.txt") as f:
            return [f"data/kitti_synthetic/testing/velodyne_reduced/{i}.bin" for i in f.read().split()[:n]]
    return scans


SEGMENTATION = WingSpec(
    "seg", "Segmentation, ACAM-KD (synthetic street scenes, report split, 19 Cityscapes classes; %):",
    ["--dataset", "cityscapes"],
    Run("teacher (DeepLabV3 R18, width 32)", "configs/demo/deeplabv3_teacher_streets.py", "seg_teacher",
        distilled=False, seconds=2400),  # 1920 iterations took 807 s alone, 4800 took 2946 s beside another run
    [Run("student alone (DeepLabV3 R18, width 8)", "configs/demo/deeplabv3_student_streets.py",
         "deeplabv3_student_streets", distilled=False, seconds=280),
     Run("student + logit mimic (MSE)", "configs/demo/deeplabv3_mimic_streets.py", "deeplabv3_mimic_streets",
         headline=False, tuned=True, seconds=330),
     Run("student + ACAM-KD", "configs/demo/deeplabv3_acam_streets.py", "deeplabv3_acam_streets", tuned=True,
         seconds=450),
     Run("ACAM-KD: spatial masks only", "configs/demo/deeplabv3_acam_streets.py", "deeplabv3_acam_spatial",
         ("distiller.masks=[spatial]",), headline=False, ablation=True, seconds=330),
     Run("ACAM-KD: channel masks only", "configs/demo/deeplabv3_acam_streets.py", "deeplabv3_acam_channel",
         ("distiller.masks=[channel]",), headline=False, ablation=True, seconds=330)],
    {"mIoU": "mIoU", "mAcc": "mAcc", "aAcc": "aAcc"}, digits=2,
    picture=("seg", report_images("data/cityscapes_synthetic/leftImg8bit/test/*/*_leftImg8bit.png")),
    # Its schedule is 3x its students' (4800 iterations); the first look trains it 2x theirs (1280, 592 s alone):
    # 27.91 mIoU on the report split (seed 0), 8 points over the student alone (19.86); 1920 gave 30.17.
    teacher_factor=2 / 3)

KITTI = "Kitti metric/pred_instances_3d/KITTI/"
LIDAR = WingSpec(
    "lidar", "3D detection, PointDistiller (synthetic LiDAR scenes, report split, KITTI AP40 moderate, strict IoU; "
             "mean = Car / Pedestrian / Cyclist):",
    ["--dataset", "kitti"],
    Run("teacher (PointPillars, widths / 2)", "configs/demo/pointpillars_teacher_lidar.py", "lidar_teacher",
        distilled=False, seconds=650),  # 480 iterations took 242 s
    [Run("student alone (PointPillars, widths / 4)", "configs/demo/pointpillars_student_lidar.py",
         "pointpillars_student_lidar", distilled=False, seconds=380),
     Run("student + pillar feature mimic (MSE)", "configs/demo/pointpillars_mimic_lidar.py",
         "pointpillars_mimic_lidar", headline=False, tuned=True, seconds=550),
     Run("student + PointDistiller", "configs/demo/pointpillars_pointdistiller_lidar.py",
         "pointpillars_pointdistiller_lidar", tuned=True, seconds=530),  # the reference's proportions: ~ the mimic
     Run("PointDistiller without reweighting", "configs/demo/pointpillars_pointdistiller_noreweight_lidar.py",
         "pointpillars_pointdistiller_noreweight_lidar", headline=False, ablation=True, seconds=530)],
    {col: KITTI + key for col, key in {
        "Car BEV": "Car_BEV_AP40_moderate_strict", "Car 3D": "Car_3D_AP40_moderate_strict",
        "Ped. 3D": "Pedestrian_3D_AP40_moderate_strict", "Cyc. 3D": "Cyclist_3D_AP40_moderate_strict",
        "mean BEV": "Overall_BEV_AP40_moderate", "mean 3D": "Overall_3D_AP40_moderate"}.items()},
    # The first look trains this teacher its whole schedule: at 40 % of it, seed 0 scored 17.3 mean 3D AP40 on the
    # tuning split (below the student alone) and seed 1 47.0; all of it, 81.6 (seed 0). About 7 more minutes of one lane.
    digits=1, picture=("bev", report_scans()), teacher_factor=2.5)

# The same scenes, with spconv's sparse convolutions: PointDistiller as the reference ran SECOND (both BEV stages,
# no reweighting); not in the first look (its teacher alone takes about 45 minutes).
SECOND = WingSpec(
    "second", "3D detection, PointDistiller on SECOND (synthetic LiDAR scenes, report split, KITTI AP40 moderate, "
              "strict IoU; mean = Car / Pedestrian / Cyclist):",
    LIDAR.data,
    Run("teacher (SECOND, widths / 2, 2400 iterations)", "configs/demo/second_teacher_lidar.py", "second_teacher",
        distilled=False, seconds=2700),
    [Run("student alone (SECOND, widths / 8)", "configs/demo/second_student_lidar.py", "second_student_lidar",
         distilled=False, seconds=700),
     Run("student + BEV feature mimic (MSE)", "configs/demo/second_mimic_lidar.py", "second_mimic_lidar",
         headline=False, tuned=True, seconds=950),
     Run("student + PointDistiller", "configs/demo/second_pointdistiller_lidar.py", "second_pointdistiller_lidar",
         tuned=True, seconds=1000),
     Run("student + PointDistiller, first BEV stage only", "configs/demo/second_pointdistiller_first_stage_lidar.py",
         "second_pointdistiller_first_stage_lidar", headline=False, ablation=True, seconds=900)],
    LIDAR.metrics, digits=1, picture=("bev", report_scans()))

DETECTION = WingSpec(
    "det", "Detection, the foundation's demo (shapes, report split, COCO bbox metrics by mmdet's CocoMetric):",
    ["--out", "data/shapes"],
    Run("teacher (R18-FPN, width 64)", "configs/demo/faster_rcnn_teacher_shapes.py", "teacher",
        distilled=False, seconds=900),
    [Run("student alone (R18-FPN, width 16)", "configs/demo/faster_rcnn_student_shapes.py",
         "faster_rcnn_student_shapes", distilled=False, seconds=240),
     Run("student + feature mimic (FPN, MSE)", "configs/demo/faster_rcnn_mimic_shapes.py",
         "faster_rcnn_mimic_shapes", tuned=True, seconds=370),
     Run("student + ACAM-KD (FPN)", "configs/demo/faster_rcnn_acam_shapes.py", "faster_rcnn_acam_shapes",
         tuned=True, seconds=690)],
    {"bbox mAP": "coco/bbox_mAP", "mAP50": "coco/bbox_mAP_50"}, picture=("det", report_images("data/shapes/test/*.jpg")))


OADP_CONFIG = "configs/demo/oadp_shapes.py"
OADP_RUN = "OADP: object + block + global"  # the headline run: its gradient shares are reported
# Seconds from the runs timed on 2026-12-07 (two lanes, one thread each): the baseline 0.7 s an iteration, OADP 1.1,
# in the first look (40%) and at convergence (3x, validated every 400) alike.
OV_RUNS = [
    Run("OV baseline (text classifier, no distillation)", "configs/demo/ovd_baseline_shapes.py",
        "ovd_baseline_shapes", distilled=False, seconds=1000),
    Run("OADP: object only", OADP_CONFIG, "oadp_object", ("distiller.levels=[object]", "model.roi_head.block_head=None",
                                                        "model.roi_head.global_head=None"),
        headline=False, ablation=True, seconds=1400),
    Run("OADP: object + block", OADP_CONFIG, "oadp_object_block",
        ("distiller.levels=[object,block]", "model.roi_head.global_head=None"), headline=False, ablation=True,
        seconds=1600),
    Run(OADP_RUN, OADP_CONFIG, "oadp_shapes", seconds=1650),
]
OV_METRICS = {"AP50 novel": "ov/AP50_novel", "AP50 base": "ov/AP50_base", "AP50 all": "ov/AP50_all"}
OV_TEACHER_ROW = "teacher: demo CLIP on base-RPN proposals"
# With --full the OV detectors train 3x their configs' schedule (4800 iterations at scale 1), validating every 400 on
# the tuning split, so the report can show base AP50 has stopped rising (within 0.01) in every run.
OV_CONVERGENCE_SCALE, OV_VAL_INTERVAL, OV_PLATEAU_TOLERANCE = 3, 400, 0.01
RPN_CONFIG = "configs/demo/rpn_shapes_base.py"
# The demo CLIP the archived runs were distilled from: the offline stand-in for downloaded CLIP weights. The demo copies
# it when its record shows the current recipe made it from the current shapes images (else it pretrains, ~15 min).
RELEASED_CLIP = "results/demo_full/clip/demo_clip.safetensors"
CLIP_STEP = "ov: demo CLIP (released weights, or pretraining)"
RECALL_COLUMNS = ["R50@10", "R50@100", "AR@100"]


def open_vocabulary_plan(out, seeds, ablation_seeds, full, scale):
    """OADP's demo: its teacher side (the demo CLIP, the base-class RPN, its proposals, the CLIP feature caches,
    the class text embeddings, the CLIP teacher as a detector) and the open-vocabulary detectors (baseline, OADP;
    ablations with ``full``)."""
    clip = os.path.join(out, "clip", "demo_clip.safetensors")
    text = os.path.join(out, "clip", "shapes_text.safetensors")
    rpn_dir, cache = os.path.join(out, "rpn_shapes_base"), os.path.join(out, "clip_features", "train")
    report_dir, detector_dir = os.path.join(out, "clip_proposals"), os.path.join(out, "clip_detector")
    rpn_schedule = schedule_options(RPN_CONFIG, scale)

    def proposals(tool):
        for split in ("train", "val", "test"):
            tool("tools/generate_proposals.py", RPN_CONFIG, os.path.join(rpn_dir, "last.ckpt"), "--split", split,
                 "--out", os.path.join(out, "proposals", split))

    def unless_exists(path, *command):
        return lambda tool: None if os.path.exists(path) else tool(*command)

    def clip_features(split):
        return lambda tool: tool(
            "tools/extract_clip_features.py", "configs/demo/clip_features_shapes.py", "--split", split, "--out",
            os.path.join(out, "clip_features", split), "--cfg-options", f"clip_teacher.pretrained={clip}",
            f"clip_features.splits.{split}.proposals={os.path.join(out, 'proposals', split)}")

    def clip_detector(tool):  # scored with the demo CLIP's own learned logit scale
        logit_scale = read_json_or_none(os.path.splitext(clip)[0] + ".json")["logit_scale"]
        tool("tools/clip_detector_eval.py", "--cache", os.path.join(out, "clip_features", "test"), "--text", text,
             "--ann", "data/shapes/annotations/instances_test.json", "--logit-scale", logit_scale, "--out", detector_dir)

    steps = [
        Step("ov: demo data", lambda tool: (tool("tools/make_demo_data.py", "--out", "data/shapes"),
                                           tool("tools/prepare_ov_coco.py", "--dataset", "shapes")),
             seconds=40, log=log_path(out, "ov_data")),
        Step(CLIP_STEP, unless_exists(clip, "tools/pretrain_demo_clip.py", "--out", clip, "--reuse", RELEASED_CLIP),
             after=("ov: demo data",), seconds=30 if os.path.isfile(RELEASED_CLIP) else 800,
             log=log_path(out, "demo_clip")),
        Step("ov: class text embeddings", unless_exists(text, "tools/build_text_embeddings.py", "--teacher",
                                                        "configs/demo/clip_teacher_shapes.py", "--vocabulary",
                                                        "shapes", "--out", text, "--cfg-options",
                                                        f"clip_teacher.pretrained={clip}"),
             after=(CLIP_STEP,), seconds=20, log=log_path(out, "text_embeddings")),
        Step("ov: base-class RPN", lambda tool: train_and_test(tool, RPN_CONFIG, rpn_dir, 0, rpn_schedule),
             after=("ov: demo data",), seconds=RUN_OVERHEAD_S + 290 * scale, log=log_path(out, "rpn_shapes_base")),
        Step("ov: RPN proposals", proposals, after=("ov: base-class RPN",), seconds=60, log=log_path(out, "proposals")),
        Step("ov: CLIP feature cache", clip_features("train"), after=(CLIP_STEP, "ov: RPN proposals"),
             seconds=90, log=log_path(out, "clip_features")),
        Step("ov: CLIP feature cache (report split)", clip_features("test"),
             after=(CLIP_STEP, "ov: RPN proposals"), seconds=70, log=log_path(out, "clip_features")),
        Step("ov: CLIP on proposals report", lambda tool: tool(
            "tools/clip_proposal_report.py", "--cache", cache, "--text", text,
            "--ann", "data/shapes/annotations/instances_train.json", "--out", report_dir),
             after=("ov: CLIP feature cache", "ov: class text embeddings"), seconds=20, log=log_path(out, "clip_report")),
        Step("ov: CLIP teacher as a detector", clip_detector,
             after=("ov: CLIP feature cache (report split)", "ov: class text embeddings"), seconds=15,
             log=log_path(out, "clip_detector")),
    ]
    shared = [f"model.roi_head.vocabulary.text_embeddings={text}", f"load_from={os.path.join(rpn_dir, 'last.ckpt')}"]
    needs = ("ov: base-class RPN", "ov: class text embeddings")
    if full:  # at convergence: a longer schedule, validated (and checkpointed) often
        shared += [f"train_cfg.val_interval={max(1, round(OV_VAL_INTERVAL * scale))}",
                   f"train_cfg.checkpoint_interval={max(1, round(2 * OV_VAL_INTERVAL * scale))}"]
    detectors, work_dirs = run_plan(
        "ov", OV_RUNS, out, seeds, ablation_seeds, full, scale * (OV_CONVERGENCE_SCALE if full else 1),
        options=lambda run: shared + ([f"teacher.model.cache={cache}"] if run.config == OADP_CONFIG else []),
        after=lambda run: needs + (("ov: CLIP feature cache",) if run.config == OADP_CONFIG else ()))
    png = os.path.join(out, "ov_predictions.png")
    models = picture_models(OV_RUNS, work_dirs)
    draw = Step("ov: picture", lambda tool: picture(tool, "det", report_images("data/shapes/test/*.jpg")(), models, png),
                after=tuple(s.name for s in detectors), seconds=40, log=log_path(out, "ov_picture"))
    steps += detectors + [draw]

    def report():
        record = read_json_or_none(os.path.splitext(clip)[0] + ".json") or {}
        origin = (f"the released weights {record['reused_from']}, pretrained" if "reused_from" in record
                  else "pretrained here") + f" by tools/pretrain_demo_clip.py in {record['seconds']:.0f} s"
        with open(os.path.join(report_dir, "report.md")) as f:
            on_proposals = f.read()
        recall = read_result(rpn_dir)[0]
        rows = [{"classes": split, **{k: recall[f"proposal/{split}_{k}"] for k in RECALL_COLUMNS}}
                for split in ("base", "novel")]
        teacher = read_json_or_none(os.path.join(detector_dir, "metrics.json"))
        if full:
            detectors = paired_table((OV_TEACHER_ROW, {0: teacher} if teacher else {}), OV_RUNS, work_dirs,
                                     OV_METRICS, 3) + "\n" + convergence_report(
                OV_RUNS, work_dirs, "ov/AP50_base", OV_PLATEAU_TOLERANCE, os.path.join(out, "ov_convergence.png"))
            seed, work_dir = first_with_grad_shares(work_dirs[OADP_RUN])
            detectors += "\n" + grad_share_report({f"{OADP_RUN} (seed {seed})": work_dir},
                                                  os.path.join(out, "ov_grad_shares.png"))
        else:
            scores = ({col: f"{teacher[key]:.3f}" for col, key in OV_METRICS.items()} if teacher
                      else {next(iter(OV_METRICS)): "did not finish"})
            detectors = markdown_table([{"model": OV_TEACHER_ROW, "seed": "-", **scores, "train time (s)": "-"}] +
                                       table_rows(OV_RUNS, work_dirs, OV_METRICS, 3),
                                       ['model', 'seed', *OV_METRICS, 'train time (s)']) + f"\n{ONE_SEED_NOTE}\n"
        return (f"Open-vocabulary detection, OADP — the teacher side:\n"
                f"Demo CLIP ({origin}), zero-shot top-1 accuracy (%) on the val boxes:\n{record['zero_shot_table']}\n\n"
                f"Demo CLIP object-aware top-1 on the cached train proposals (the targets OADP distils; "
                f"{report_dir}/confusion.png):\n{on_proposals}\n\n"
                f"Base-class RPN, proposal recall on the report split:\n{markdown_table(rows, ['classes', *RECALL_COLUMNS])}\n\n"
                f"Open-vocabulary detectors (shapes, report split; star, heart, crescent never boxed in training; AP50 by "
                f"OVCocoAP50Metric; the teacher: each proposal named by its cached CLIP embedding, {detector_dir}):\n"
                f"{detectors}")

    return Wing("ov", steps, report, [png, os.path.join(report_dir, "confusion.png")] +
                ([os.path.join(out, "ov_convergence.png"), os.path.join(out, "ov_grad_shares.png")] if full else []))


def first_with_grad_shares(work_dirs):
    """``(seed, work dir)`` of the first run in ``{seed: work dir}`` that logged gradient shares (else the first
    one): OADP's first report seed ran before its shares were measured where they can be."""
    for seed in sorted(work_dirs):
        try:
            if read_logged(work_dirs[seed], METRIC_PREFIX):
                return seed, work_dirs[seed]
        except MissingFile:  # not trained yet
            continue
    return min(work_dirs), work_dirs[min(work_dirs)]

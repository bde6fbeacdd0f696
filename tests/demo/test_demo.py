"""The demo tour: steps run side by side in dependency order, a failure skips only what needs it, every
run's overrides are accepted by the strict config loader, and the tables read the runs' metrics."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, write_training_log
from densekd.core.config import DictAction, load_config, parse_cfg_options
from densekd.core.errors import InvalidValue, MissingFile, StepFailed
from densekd.core import runner
from densekd.core.runner import (Step, ToolRunner, critical_paths, run_steps, schedule_options, threads_per_step,
                                  train_only, work_pace)
from densekd.demo.tour import check_schedule, only_steps, parse_args
from densekd.demo.wings import (CLIP_STEP, LIDAR, RELEASED_CLIP, SECOND, SEGMENTATION, first_with_grad_shares,
                                open_vocabulary_plan, picture, wing_plan)


def test_steps_run_after_what_they_need_at_most_jobs_at_a_time_and_a_failure_skips_only_its_dependents():
    order, lock, running, most = [], threading.Lock(), [0], [0]

    def action(name, fail=False):
        def act(tool):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
                order.append(name)
            if fail:
                raise StepFailed(f"{name} broke")
        return act

    steps = [Step("data", action("data"), seconds=1), Step("teacher", action("teacher", fail=True), ("data",), 10),
             Step("distilled", action("distilled"), ("teacher",), 5), Step("alone", action("alone"), ("data",), 3),
             Step("other", action("other"), seconds=1)]
    lines = []
    status = run_steps(steps, jobs=2, threads=1, echo=lambda text, flush=True: lines.append(text))
    assert status["data"] == status["alone"] == status["other"] == "done"
    assert status["teacher"].startswith("failed: teacher broke")
    assert status["distilled"] == "skipped: teacher did not finish" and "distilled" not in order
    assert order.index("data") < order.index("teacher") and order.index("data") < order.index("alone")
    assert most[0] == 2  # side by side, never more than jobs
    assert any("done    data in" in line and "ETA" in line for line in lines)
    assert any("FAILED  teacher: teacher broke" in line for line in lines)
    assert lines[-1].startswith("[5/5]")


def test_the_step_heading_the_longest_chain_starts_first():
    steps = [Step("short", None, seconds=5), Step("teacher", None, seconds=10), Step("student", None, ("teacher",), 20)]
    assert critical_paths(steps) == {"short": 5, "teacher": 30, "student": 20}
    with pytest.raises(StepFailed, match="unknown steps \\['nope'\\]"):
        run_steps([Step("a", None, ("nope",))], jobs=1, threads=1)


def test_the_eta_pace_comes_from_steps_that_did_real_work():
    assert work_pace([]) == 1.0
    assert work_pace([(16, 40), (0, 800)]) == 1.0  # a data check and a finished run found: no pace yet
    assert work_pace([(16, 40), (3000, 2500), (900, 500)]) == pytest.approx(3900 / 3000)
    assert work_pace([(600, 100)]) == 3.0 and work_pace([(60, 1000)]) == 0.5  # kept within 0.5-3


def test_only_keeps_the_named_steps_and_everything_they_wait_for(tmp_path):
    steps = wing_plan(LIDAR, str(tmp_path), [1, 2], [1], True, 1.0).steps
    kept = [step.name for step in only_steps(steps, ["PointDistiller: paper setting", "student alone"])]
    assert kept == ["lidar: demo data", "lidar: teacher (PointPillars, widths / 2)",
                    "lidar: student alone (PointPillars, widths / 4) (seed 1)",
                    "lidar: student alone (PointPillars, widths / 4) (seed 2)",
                    "lidar: student + PointDistiller: paper setting (seed 1)",
                    "lidar: student + PointDistiller: paper setting (seed 2)"]
    tuned = [step.name for step in only_steps(steps, ["mimic (MSE): tuned setting (seed 1)"])]
    assert len([name for name in tuned if ": tuning " in name]) == 5  # the tuned run waits for the whole grid
    with pytest.raises(InvalidValue, match="--only nothing: no step's name contains"):
        only_steps(steps, ["nothing"])


def test_a_tool_that_fails_names_its_error_line_and_log(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("import os, sys\nprint('threads', os.environ['OMP_NUM_THREADS'])\n"
                      "print('error: dataset path not found: x', file=sys.stderr)\nsys.exit(1)\n")
    log = tmp_path / "logs" / "step.log"
    with pytest.raises(StepFailed, match=f"exited with 1: error: dataset path not found: x \\(log: {log}\\)"):
        ToolRunner(str(log), threads=3)(str(script), "--flag")
    assert "threads 3" in log.read_text() and f"$ python {script} --flag" in log.read_text()


def test_runners_alive_on_the_machine_share_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RUNNERS", str(tmp_path))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    notes = []

    def echo(text, flush):
        notes.append(text)

    assert threads_per_step(2, echo) == 4 and notes == []  # alone: cpu_count / jobs
    assert (tmp_path / str(os.getpid())).exists()
    (tmp_path / "999999999").touch()  # a runner that died without cleaning up
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(helper.pid)).touch()  # a live one
        assert threads_per_step(2, echo) == 2
        assert notes == [f"note: 1 other densekd runner(s) on this machine (pid {helper.pid}); each step here gets 2 "
                         "thread(s) so that the cores are shared, not oversubscribed"]
        assert not (tmp_path / "999999999").exists()
    finally:
        helper.kill()


def test_a_finished_run_is_skipped_only_when_it_trained_these_settings(tmp_path):
    """Runs are found by folder: one trained before its config changed (as the seg ACAM mask form did) is
    refused with the keys that differ, not tabled as the new form."""
    config, run = "configs/demo/deeplabv3_acam_streets.py", tmp_path / "run"
    run.mkdir()
    options = ["distiller.alpha=0.3", "teacher.checkpoint=t.ckpt"]
    load_config(config, parse_cfg_options(["seed=2", *options])).dump(str(run / "config.py"))
    (run / "train_summary.json").write_text("{}")
    calls = []
    train_only(lambda *args: calls.append(args), config, str(run), 2, options)  # same settings: skipped
    # a diagnostic changes what the run logs about itself, not what it trains: still the same run
    train_only(lambda *args: calls.append(args), config, str(run), 2,
               ["train_cfg.grad_share_interval=7", "train_cfg.grad_share_features=[neck]", *options])
    with pytest.raises(InvalidValue, match=r"other settings than .*\(distiller.whiten_fused\): "
                                           r"move the run away"):
        train_only(lambda *args: calls.append(args), config, str(run), 2,
                   ["distiller.whiten_fused=False", *options])
    assert calls == []


def test_schedule_options_shorten_iterations_intervals_and_lr_steps_and_the_config_accepts_them():
    options = schedule_options("configs/demo/ovd_baseline_shapes.py", 0.5)
    assert options == ["train_cfg.max_iters=800", "train_cfg.val_interval=400", "train_cfg.checkpoint_interval=400",
                       "lr_schedule.milestones=[600]"]
    assert schedule_options("configs/demo/ovd_baseline_shapes.py", 1) == []


def recording_tool(calls):
    """A stand-in for ToolRunner: records the command lines; a training writes its summary, a test its metrics."""
    def tool(script, *args):
        calls.append((script, list(args)))
        if script in ("tools/train.py", "tools/test.py"):
            work_dir = args[args.index("--work-dir") + 1]
            os.makedirs(work_dir, exist_ok=True)
            name = "train_summary.json" if script == "tools/train.py" else "metrics.json"
            with open(os.path.join(work_dir, name), "w") as f:
                json.dump({"iterations": 2, "train_time_s": 1.0}, f)
    return tool


def parsed_options(args):
    """The ``--cfg-options`` of a command line, parsed as tools/train.py parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(args[args.index("--cfg-options"):]).cfg_options


@pytest.mark.parametrize("full", [False, True])
def test_every_run_of_the_plans_passes_the_strict_override_check(tmp_path, full):
    out = str(tmp_path)
    seed = 1 if full else 0  # --full: a report seed, apart from the grid's tuning seed 0
    wings = [wing_plan(SEGMENTATION, out, [seed], [seed] if full else [], full, 1 if full else 0.5),
             wing_plan(LIDAR, out, [seed], [seed] if full else [], full, 1 if full else 0.5),
             wing_plan(SECOND, out, [seed], [seed] if full else [], full, 1 if full else 0.5),
             open_vocabulary_plan(out, [seed], [seed] if full else [], full, 1 if full else 0.5)]
    steps = [step for wing in wings for step in wing.steps]
    names = {step.name for step in steps}
    assert all(dep in names for step in steps for dep in step.after)
    trainings = [s for s in steps if "(seed" in s.name or ": tuning " in s.name]
    # students; teachers are trained once. --full: seg, PointPillars and SECOND: the student alone, 2 tuned
    # distillers (paper and tuned rows, grids of 5 and 6, 5 and 6, 6 and 6 settings) and the ablations (2, 1 and
    # 1); ov: baseline, OADP and 2 ablations
    assert len(trainings) == (2 + 2 + 2 + 2 if not full else (1 + 4 + 11 + 2) + (1 + 4 + 11 + 1) + (1 + 4 + 12 + 1) + 4)
    if full:  # the tuned rows train the best setting on the tuning split: make loss weight 3 win there
        best = tmp_path / "deeplabv3_mimic_streets" / "tuning" / "loss_weight-3.0"
        grid_point = next(s for s in steps if s.name.endswith("logit mimic (MSE): tuning loss_weight=3.0"))
        grid_point.action(recording_tool(first := []))  # what it trains, dumped as a finished run dumps it
        args = first[0][1]
        load_config(args[0], parsed_options(args)).dump(str(best / "config.py"))
        (best / "train_summary.json").write_text(json.dumps({"val_metrics": {"mIoU": 30.0}, "iterations": 1, "val_iteration": 1}))
    calls = []
    for step in steps:
        if "teacher (" in step.name or step in trainings or "RPN" == step.name[-3:]:
            if "tuned setting" in step.name and "logit mimic" not in step.name:
                continue  # their grids did not run here
            step.action(recording_tool(calls))
    trained = [args for script, args in calls if script == "tools/train.py"]
    # + the seg and two 3D teachers and the RPN; --full: 5 tuned rows skipped, and the best mimic grid point had
    # finished
    assert len(trained) == len(trainings) + 4 - (6 if full else 0)
    if full:
        assert any("distiller.loss_weight=3.0" in args and args[2].endswith("report/loss_weight-3.0/seed1")
                   for args in trained)
    for args in trained:
        options = parsed_options(args)
        cfg = load_config(args[0], options)  # refuses any key the config does not have
        assert cfg.seed == (seed if f"seed{seed}" in args[2] else 0)  # the report seed; teachers and the grid: 0
        if not full and not args[2].endswith("lidar_teacher"):  # that teacher trains its whole schedule (below)
            assert 0 < cfg.train_cfg.max_iters < load_config(args[0]).train_cfg.max_iters
    assert all(script == "tools/test.py" for script, _ in calls if script != "tools/train.py")


def test_a_wing_teacher_trains_its_factor_of_the_students_share_below_full_schedules_and_all_at_full(tmp_path):
    def teacher_iterations(spec, scale):
        calls = []
        out = str(tmp_path / f"{spec.name}{scale}")  # each in its own folder: a finished run is not trained again
        teacher = next(s for s in wing_plan(spec, out, [0], [], False, scale).steps if "teacher (" in s.name)
        teacher.action(recording_tool(calls))
        args = calls[0][1]
        return load_config(args[0], parsed_options(args) if "--cfg-options" in args else None).train_cfg.max_iters

    whole = load_config(LIDAR.teacher.config).train_cfg.max_iters
    assert LIDAR.teacher_factor == 2.5
    assert teacher_iterations(LIDAR, 0.4) == whole  # the first look: all of it
    assert teacher_iterations(LIDAR, 0.1) == round(0.25 * whole)
    assert teacher_iterations(LIDAR, 1.0) == whole
    seg_whole = load_config(SEGMENTATION.teacher.config).train_cfg.max_iters
    student = load_config(SEGMENTATION.runs[0].config).train_cfg.max_iters
    assert seg_whole == 3 * student and SEGMENTATION.teacher_factor == pytest.approx(2 / 3)
    assert teacher_iterations(SEGMENTATION, 0.4) == 2 * round(0.4 * student)  # the first look: twice its students'
    assert teacher_iterations(SEGMENTATION, 1.0) == seg_whole  # full schedules: all of it, 3x its students'


def test_the_lidar_table_reads_each_finished_run_and_says_which_did_not_finish(tmp_path):
    wing = wing_plan(LIDAR, str(tmp_path), [0, 1], [], False, 0.5)
    for work_dir, bev in ((tmp_path / "lidar_teacher", 99.0), (tmp_path / "seed0" / "pointpillars_student_lidar", 90.04),
                          (tmp_path / "seed1" / "pointpillars_student_lidar", 80.0)):
        work_dir.mkdir(parents=True)
        (work_dir / "train_summary.json").write_text(json.dumps({"iterations": 600, "train_time_s": 100}))
        metrics = {key: bev - i for i, key in enumerate(LIDAR.metrics.values())}
        (work_dir / "metrics.json").write_text(json.dumps(metrics))
    table = wing.report()
    assert "| Car BEV | Car 3D | Ped. 3D | Cyc. 3D | mean BEV | mean 3D |" in table
    assert "| student alone (PointPillars, widths / 4) | 0 | 90.0 | 89.0 | 88.0 | 87.0 | 86.0 | 85.0 | 100 |" in table
    assert ("student alone (PointPillars, widths / 4): mean of 2 finished runs | - | 85.0 ± 7.1 | 84.0 ± 7.1 | 83.0 ± 7.1 | "
            "82.0 ± 7.1 | 81.0 ± 7.1 | 80.0 ± 7.1 | 100 ± 0 |") in table
    assert "One seed ranks nothing" in table
    assert "| student + PointDistiller | 0 | did not finish |" in table
    assert "pillar feature mimic" not in table  # not a headline run: --full only


def test_first_look_and_full_defaults_and_runs_of_different_lengths_never_share_a_folder(tmp_path):
    first, full = parse_args([]), parse_args(["--full"])
    assert (first.wings, first.seeds, first.ablation_seeds, first.schedule_scale) == (("seg", "lidar", "ov"), [0], [], 0.4)
    assert (full.seeds, full.ablation_seeds, full.schedule_scale, full.out) == ([1, 2, 3, 4, 5], [1], 1.0, "work_dirs/demo_full")
    assert "det" in full.wings
    check_schedule(str(tmp_path), 0.5)
    check_schedule(str(tmp_path), 0.5)  # the same again: resumes
    with pytest.raises(InvalidValue, match="holds runs at schedule scale 0.5, this demo trains at schedule scale 1"):
        check_schedule(str(tmp_path), 1.0)


def test_a_step_that_hits_a_bug_names_the_exception_and_keeps_its_traceback_in_the_log(tmp_path):
    def broken(tool):
        return {}["missing"]

    log = tmp_path / "logs" / "broken.log"
    lines = []
    status = run_steps([Step("broken", broken, log=str(log))], jobs=1, threads=1,
                       echo=lambda text, flush=True: lines.append(text))
    assert status["broken"].startswith("failed:")
    assert "FAILED  broken: KeyError: 'missing'" in lines[-1]
    assert "Traceback" in log.read_text() and 'return {}["missing"]' in log.read_text()


def test_the_full_table_pairs_each_arm_with_the_student_alone_and_shows_the_grids(tmp_path):
    wing = wing_plan(SEGMENTATION, str(tmp_path), [1, 2], [1], True, 1)

    def run(path, miou, tested=True, **summary):
        path.mkdir(parents=True)
        (path / "train_summary.json").write_text(json.dumps({"iterations": 9, "train_time_s": 1, **summary}))
        if tested:
            (path / "metrics.json").write_text(json.dumps({"mIoU": miou, "mAcc": miou + 5, "aAcc": miou + 50}))

    run(tmp_path / "seg_teacher", 40.0)
    for seed, miou in ((1, 20.0), (2, 22.0)):
        run(tmp_path / f"seed{seed}" / "deeplabv3_student_streets", miou)
        for method, gain in (("deeplabv3_mimic_streets", 1.0), ("deeplabv3_acam_streets", -0.5)):
            paper = "loss_weight-1.0" if "mimic" in method else "alpha-1.0_lambda_div-1.0"
            run(tmp_path / method / "report" / paper / f"seed{seed}", miou + gain + seed / 10)
    run(tmp_path / "deeplabv3_mimic_streets" / "report" / "loss_weight-3.0" / "seed1", 22.0)
    run(tmp_path / "deeplabv3_mimic_streets" / "report" / "loss_weight-3.0" / "seed2", 25.0)
    run(tmp_path / "deeplabv3_mimic_streets" / "tuning" / "loss_weight-1.0", None, False, val_metrics={"mIoU": 20.0}, val_iteration=9)
    run(tmp_path / "deeplabv3_mimic_streets" / "tuning" / "loss_weight-3.0", None, False, val_metrics={"mIoU": 21.0}, val_iteration=9)
    run(tmp_path / "deeplabv3_acam_streets" / "tuning" / "alpha-1.0_lambda_div-1.0", None, False,
        val_metrics={"mIoU": 20.0}, val_iteration=9)
    run(tmp_path / "seed1" / "deeplabv3_acam_spatial", 18.0)
    run(tmp_path / "seed1" / "deeplabv3_acam_channel", None, False, diverged=True)
    table = wing.report()
    assert "Diverged (training stopped at a NaN/inf loss; no score): ACAM-KD: channel masks only (seed 1)." in table
    assert "| teacher (DeepLabV3 R18, width 32) | 0 | 40.00 | - |" in table
    assert "| student alone (DeepLabV3 R18, width 8) | 1 2 | 21.00 ± 1.41 | - |" in table
    # paired: differences +1.1 and +1.2 -> mean +1.15, interval +1.15 -/+ 12.706 * 0.0707 / sqrt(2)
    assert "| student + logit mimic (MSE), paper setting (loss_weight=1.0) | 1 2 | 22.15 ± 1.48 | +1.15 [+0.51, +1.79], finding |" in table
    # 2 of the mimic's 5 grid points ended: its choice is only the best so far, and the rows say so
    assert ("student + logit mimic (MSE), tuned (loss_weight=3.0; best so far, 3 of 5 grid points not ended) | 1 2 | "
            "23.50 ± 2.12 | +2.50 [-3.85, +8.85], no difference shown |") in table
    assert "student + ACAM-KD, tuned (= the paper setting; best so far, 5 of 6 grid points not ended)" in table
    assert "| ACAM-KD: spatial masks only | 1 | 18.00 | - |" in table  # one seed, not paired
    assert "| loss_weight=3.0 | 21.000 | best so far |" in table and "| loss_weight=0.1 | did not finish |  |" in table
    for setting in ("loss_weight-0.1", "loss_weight-0.3"):
        run(tmp_path / "deeplabv3_mimic_streets" / "tuning" / setting, None, False, val_metrics={"mIoU": 19.0},
            val_iteration=9)
    run(tmp_path / "deeplabv3_mimic_streets" / "tuning" / "loss_weight-10.0", None, False, diverged=True)
    table = wing.report()  # a diverged point has ended too: the grid is complete
    assert "student + logit mimic (MSE), tuned (loss_weight=3.0) | 1 2 |" in table
    assert "| loss_weight=3.0 | 21.000 | yes |" in table and "| loss_weight=10.0 | did not finish |  |" in table
    # gradient shares: the mimic's paper run logged them, ACAM-KD's did not (its line says so)
    logs = tmp_path / "deeplabv3_mimic_streets" / "report" / "loss_weight-1.0" / "seed1" / "logs" / "version_0"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text("step,train/grad_share/loss_mimic/decode_head.conv_seg\n0,2.0\n50,0.5\n")
    table = wing.report()
    assert "Gradient shares, student + logit mimic (MSE), paper setting (seed 1):" in table
    assert "| loss_mimic/decode_head.conv_seg | 2 | 0.5 | 1.25 |" in table
    assert (tmp_path / "seg_grad_shares.png").is_file()
    assert "Gradient shares, student + ACAM-KD, paper setting (seed 1):" in table
    # before any grid point finishes (a session that ran the paper seeds first), the paper rows still table
    for setting in ("loss_weight-1.0", "loss_weight-3.0", "loss_weight-0.1", "loss_weight-0.3"):
        (tmp_path / "deeplabv3_mimic_streets" / "tuning" / setting / "train_summary.json").unlink()
    table = wing.report()
    assert "| student + logit mimic (MSE), paper setting (loss_weight=1.0) | 1 2 | 22.15 ± 1.48 |" in table
    assert "| student + logit mimic (MSE), tuned (grid not run yet) |  | no finished run |" in table


def test_the_picture_leaves_out_runs_without_a_checkpoint_and_needs_two(tmp_path):
    models = [(name, f"configs/{name}.py", str(tmp_path / name)) for name in ("teacher", "alone", "mimic")]
    for name in ("teacher", "mimic"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "last.ckpt").write_bytes(b"")
    calls = []
    picture(recording_tool(calls), "seg", ["a.png"], models, "p.png")
    (script, args), = calls
    assert args.count("--model") == 2 and "alone" not in args
    (tmp_path / "mimic" / "last.ckpt").unlink()
    with pytest.raises(MissingFile, match=r"p.png: 1 of the 3 models have a checkpoint \(none: alone, mimic\)"):
        picture(recording_tool(calls), "seg", ["a.png"], models, "p.png")


def test_the_ov_table_opens_with_the_clip_teacher_as_a_detector_scored_at_its_own_logit_scale(tmp_path):
    wing = open_vocabulary_plan(str(tmp_path), [0], [], False, 0.5)
    ov_teacher_side(tmp_path, detector=False)
    calls = []
    next(s for s in wing.steps if s.name == "ov: CLIP teacher as a detector").action(recording_tool(calls))
    (script, args), = calls
    assert script == "tools/clip_detector_eval.py" and args[args.index("--logit-scale") + 1] == 31.5
    assert args[args.index("--cache") + 1] == str(tmp_path / "clip_features" / "test")
    assert "| teacher: demo CLIP on base-RPN proposals | - | did not finish |" in wing.report()
    (tmp_path / "clip_detector").mkdir()
    (tmp_path / "clip_detector" / "metrics.json").write_text(json.dumps(
        {"ov/AP50_novel": 0.5, "ov/AP50_base": 0.8, "ov/AP50_all": 0.71}))
    table = wing.report().split("Open-vocabulary detectors")[1]
    assert table.splitlines()[3] == "| teacher: demo CLIP on base-RPN proposals | - | 0.500 | 0.800 | 0.710 | - |"
    assert "One seed ranks nothing" in table
    assert f"Demo CLIP (the released weights {RELEASED_CLIP}, pretrained by tools/pretrain_demo_clip.py in 988 s)" \
        in wing.report()


def test_the_ov_wing_copies_the_released_demo_clip_rather_than_pretraining_it(tmp_path):
    wing = open_vocabulary_plan(str(tmp_path), [0], [], False, 0.4)
    step = next(s for s in wing.steps if s.name == CLIP_STEP)
    calls = []
    step.action(recording_tool(calls))
    (script, args), = calls  # the tool decides: it copies them if this recipe made them from this data
    assert script == "tools/pretrain_demo_clip.py" and args[args.index("--reuse") + 1] == RELEASED_CLIP
    assert os.path.isfile(os.path.join(REPO, RELEASED_CLIP)) and step.seconds < 60  # so the first look's estimate leaves it out
    assert all(CLIP_STEP in s.after for s in wing.steps if s.name.startswith("ov: CLIP feature cache"))


def ov_teacher_side(tmp_path, detector=True):
    """The files the OV report reads besides its detectors: the CLIP's zero-shot table, the proposal report,
    the RPN's recall and (``detector``) the CLIP teacher as a detector."""
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "demo_clip.json").write_text(json.dumps(
        {"zero_shot_table": "ZS", "logit_scale": 31.5, "seconds": 988.1, "reused_from": RELEASED_CLIP}))
    (tmp_path / "clip_proposals").mkdir()
    (tmp_path / "clip_proposals" / "report.md").write_text("CONFUSION")
    rpn = tmp_path / "rpn_shapes_base"
    rpn.mkdir()
    (rpn / "train_summary.json").write_text(json.dumps({"iterations": 1}))
    (rpn / "metrics.json").write_text(json.dumps({f"proposal/{s}_{k}": 0.5 for s in ("base", "novel")
                                                  for k in ("R50@10", "R50@100", "AR@100")}))
    if detector:
        (tmp_path / "clip_detector").mkdir()
        (tmp_path / "clip_detector" / "metrics.json").write_text(json.dumps(
            {"ov/AP50_novel": 0.3, "ov/AP50_base": 0.4, "ov/AP50_all": 0.37}))


def test_the_full_ov_wing_trains_to_convergence_and_pairs_oadp_with_the_baseline(tmp_path):
    wing = open_vocabulary_plan(str(tmp_path), [1, 2], [1], True, 1)
    calls = []
    next(s for s in wing.steps if s.name == "ov: OV baseline (text classifier, no distillation) (seed 1)").action(
        recording_tool(calls))
    options = parsed_options(next(args for script, args in calls if script == "tools/train.py"))
    assert (options["train_cfg.max_iters"], options["train_cfg.val_interval"], options["lr_schedule.milestones"]) == \
        (4800, 400, [3600])  # 3x the config's 1600 iterations, validated every 400 on the tuning split
    ov_teacher_side(tmp_path)

    def run(work, seed, novel, curve, share=""):
        path = tmp_path / f"seed{seed}" / work
        (path / "logs" / "version_0").mkdir(parents=True)
        (path / "train_summary.json").write_text(json.dumps({"iterations": 4800, "train_time_s": 1}))
        (path / "metrics.json").write_text(json.dumps({"ov/AP50_novel": novel, "ov/AP50_base": 0.8, "ov/AP50_all": 0.6}))
        (path / "logs" / "version_0" / "metrics.csv").write_text(
            "step,val/ov/AP50_base,train/grad_share/loss_object/neck[0]\n" +
            "".join(f"{400 * (i + 1) - 1},{v},{share}\n" for i, v in enumerate(curve)))

    for seed in (1, 2):
        run("ovd_baseline_shapes", seed, 0.10 + seed / 100, [0.5, 0.7, 0.705])
        run("oadp_shapes", seed, 0.15 + seed / 50, [0.5, 0.6, 0.7], share="" if seed == 1 else 0.25)
    run("oadp_object", 1, 0.12, [0.5, 0.8, 0.8])
    report = wing.report()
    assert "| teacher: demo CLIP on base-RPN proposals | 0 | 0.300 | - |" in report
    # OADP - baseline on novel AP50: +0.06, +0.07 -> +0.065 -/+ 12.706 * 0.00707 / sqrt(2)
    assert "| OADP: object + block + global | 1 2 | 0.180 ± 0.014 | +0.065 [+0.001, +0.129], finding |" in report
    assert "| OADP: object only | 1 | 0.120 | - |" in report  # an ablation: one seed, not paired
    assert "| OV baseline (text classifier, no distillation) (seed 1) | 3 | 0.500 @ 400 | 0.705 @ 1200 | 0.705 @ 1200 | 800 | yes |" in report
    assert "| OADP: object + block + global (seed 2) | 3 | 0.500 @ 400 | 0.700 @ 1200 | 0.700 @ 1200 | 1200 | no: still rising at its last validation |" in report
    assert (tmp_path / "ov_convergence.png").is_file()
    # seed 1 logged no shares (trained before they were measured at the FPN levels): seed 2's are shown
    assert "Gradient shares, OADP: object + block + global (seed 2):" in report
    assert "| loss_object/neck[0] | 0.25 | 0.25 | 0.25 | 0.25 |" in report
    assert (tmp_path / "ov_grad_shares.png").is_file()


def test_oadps_shares_come_from_its_first_seed_that_logged_them_skipping_seeds_not_run(tmp_path):
    runs = {seed: str(tmp_path / f"seed{seed}") for seed in (1, 2, 3)}
    write_training_log(runs[1], [{"step": 0, "train/loss": 1.0}])  # trained before the shares were measured
    write_training_log(runs[3], [{"step": 0, "train/grad_share/loss_object/neck[0]": 0.5}])  # seed 2: not run
    assert first_with_grad_shares(runs) == (3, runs[3])
    assert first_with_grad_shares({1: runs[1], 2: runs[2]}) == (1, runs[1])  # none: the first, whose report says why

"""The evidence machinery: paired differences over seeds with their Student-t interval, and the tuning protocol
(``tools/tune.py``) end to end on generated street scenes."""
import json
import math
import os

import pytest

from conftest import as_argv, load_tool, seg_options
from densekd.core.errors import InvalidValue, UnknownKey
from densekd.core.evidence import comparison_table, paired_difference
from densekd.core.tuning import (arm_steps, best_setting, choice_check, load_protocol, paired_arms, report_dir,
                                  tuning_dir, tuning_scores, tuning_steps, tuning_table)

MIMIC = "configs/demo/deeplabv3_mimic_streets.py"


def finished_run(folder, miou, tested=None):
    """A run folder as a finished 4-iteration run leaves it: ``miou`` on the tuning split (its last validation)
    and, with ``tested``, on the report split."""
    os.makedirs(folder)
    json.dump({"iterations": 4, "val_iteration": 4, "val_metrics": {"mIoU": miou}},
              open(os.path.join(folder, "train_summary.json"), "w"))
    if tested is not None:
        json.dump({"mIoU": tested}, open(os.path.join(folder, "metrics.json"), "w"))


def test_paired_interval_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2 dof) = 4.302653 -> half-width 4.302653 / sqrt(3) = 2.484138
    d = paired_difference({0: 3.0, 1: 5.0, 2: 7.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert (d.mean, d.sd) == (2.0, 1.0)
    assert d.low == pytest.approx(2 - 2.484138, abs=1e-6) and d.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert not d.is_finding and d.describe() == "+2.00 [-0.48, +4.48], no difference shown"
    # differences 1.0, 1.2, 0.8, 1.1, 0.9 over 5 seeds: mean 1, sd 0.158114, t(0.975, 4) = 2.776445
    five = paired_difference({s: 10 + x for s, x in enumerate([1.0, 1.2, 0.8, 1.1, 0.9])}, dict.fromkeys(range(5), 10.0))
    assert five.high - five.mean == pytest.approx(2.776445 * 0.158114 / math.sqrt(5), abs=1e-5)
    assert five.is_finding and five.describe().endswith("finding") and five.low > 0


def test_one_seed_ranks_nothing():
    d = paired_difference({0: 3.0}, {0: 1.0})
    assert math.isnan(d.low) and not d.is_finding
    assert "ranks nothing" in d.describe()
    table = comparison_table({"alone": {0: {"mIoU": 1.0}}, "kd": {0: {"mIoU": 3.0}}}, "alone", ["mIoU"])
    assert "One seed ranks nothing" in table


def test_unequal_seeds_are_refused_in_one_line():
    with pytest.raises(InvalidValue) as err:
        paired_difference({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0}, what="'kd'")
    assert "\n" not in str(err.value) and "[0, 1] vs [0, 2]" in str(err.value) and "run seeds [1, 2]" in str(err.value)


def test_table_marks_the_teacher_unpaired():
    arms = {"alone": {1: {"m": 1.0}, 2: {"m": 2.0}}, "kd": {1: {"m": 2.0}, 2: {"m": 3.5}}, "teacher": {0: {"m": 9.0}}}
    table = comparison_table(arms, "alone", ["m"], unpaired=("teacher",))
    assert "| kd | 1 2 | 2.75 ± 1.06 | +1.25 [" in table and "| teacher | 0 | 9.00 | - |" in table


def test_grid_errors_name_what_to_fix():
    with pytest.raises(UnknownKey) as err:
        load_protocol(MIMIC, {"distiller.loss_wieght": [1, 2]}, "mIoU")
    assert "\n" not in str(err.value) and "--grid distiller.loss_wieght" in str(err.value) and \
        "distiller.loss_weight" in str(err.value)
    with pytest.raises(InvalidValue, match="7 settings .* at most 6"):
        load_protocol(MIMIC, {"distiller.loss_weight": [0.1, 0.3, 3, 10, 30, 100]}, "mIoU")
    with pytest.raises(UnknownKey, match="--metric"):
        load_protocol("configs/mimic_cityscapes_r101_r18.py", {"distiller.loss_weight": [2]})  # no tuning dict


def test_the_paper_setting_is_always_a_point():
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3, 10]}, "mIoU")
    assert [s.name for s in protocol.settings] == ["loss_weight=1.0", "loss_weight=3", "loss_weight=10"]
    assert protocol.paper.options == {"distiller.loss_weight": "1.0"}


@pytest.mark.usefixtures("one_torch_thread", "restore_scope")
def test_tune_two_settings_end_to_end(street_root, tmp_path):
    """Teacher trained 2 iterations; the grid (loss weight 1 = the config's, 2) on the tuning split with seed 0;
    the chosen one, the paper's and the student alone on seeds 1 and 2, tested on the report split."""
    options = seg_options(street_root)
    load_tool("train").main(["configs/demo/deeplabv3_teacher_streets.py", "--work-dir", str(tmp_path / "teacher"),
                             *as_argv(options)])
    out = tmp_path / "tune"
    options["teacher.checkpoint"] = str(tmp_path / "teacher" / "last.ckpt")
    report = load_tool("tune").main([MIMIC, "--grid", "distiller.loss_weight=2", "--metric", "mIoU", "--seeds", "1",
                                     "2", "--work-dir", str(out), "--jobs", "2", *as_argv(options)])
    for setting in ("loss_weight-1.0", "loss_weight-2"):  # tuning runs: trained and validated, never tested
        summary = json.load(open(out / "tuning" / setting / "train_summary.json"))
        assert "mIoU" in summary["val_metrics"] and summary["val_iteration"] == summary["iterations"] == 2
        assert not os.path.exists(out / "tuning" / setting / "metrics.json")
    chosen = json.load(open(out / "tuning.json"))["chosen"]
    for arm in ("student_alone", "loss_weight-1.0", "loss_weight-" + chosen["distiller.loss_weight"]):
        for seed in (1, 2):
            assert "mIoU" in json.load(open(out / "report" / arm / f"seed{seed}" / "metrics.json"))
    # the student alone really trained without a teacher; the distilled runs with it
    def logged(arm):
        return open(next((out / "report" / arm / "seed1" / "logs").rglob("metrics.csv"))).readline()
    assert "train/loss_mimic" not in logged("student_alone") and "train/loss_mimic" in logged("loss_weight-1.0")
    assert "| student alone | 1 2 |" in report and "paper setting (loss_weight=1.0)" in report
    assert report.count("Δ mIoU") == 1 and ("finding" in report or "no difference shown" in report)


def test_a_diverged_run_is_named_and_its_seed_left_out_of_every_paired_arm(tmp_path):
    def run(name, seed, miou=None):
        path = tmp_path / name / str(seed)
        path.mkdir(parents=True)
        (path / "train_summary.json").write_text(json.dumps({"iterations": 9, "diverged": miou is None}))
        if miou is not None:
            (path / "metrics.json").write_text(json.dumps({"mIoU": miou}))
        return str(path)

    dirs = {"alone": {1: run("alone", 1, 20.0), 2: run("alone", 2, 21.0)},
            "method": {1: run("method", 1, 22.0), 2: run("method", 2), 3: str(tmp_path / "not run")},
            "ablation": {1: run("ablation", 1)}}
    arms, note = paired_arms(dirs, unpaired=["ablation"])
    assert arms == {"alone": {1: {"mIoU": 20.0}}, "method": {1: {"mIoU": 22.0}}, "ablation": {}}
    assert note == ("Seeds [2] did not finish in every arm and are left out. Diverged (training stopped at a NaN/inf "
                    "loss; no score): method (seed 2), ablation (seed 1).")


def test_the_grids_choice_is_checked_over_the_report_seeds_on_the_tuning_split(tmp_path):
    """Seed 0 picked loss weight 3 (tuning score 9 against 5); the report runs' own validations on the tuning split
    say otherwise over seeds 1-3 (differences -2, -3, -1: mean -2, sd 1, half-width 4.302653 / sqrt(3) = 2.48)."""
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU")
    paper, tuned = protocol.settings
    out = str(tmp_path)
    finished_run(tuning_dir(out, paper), 5.0)
    assert choice_check(protocol, out, [1, 2, 3]) == ""  # the paper's setting leads: nothing to check
    finished_run(tuning_dir(out, tuned), 9.0)
    assert choice_check(protocol, out, [1, 2, 3]) == ""  # no report run yet
    for seed, (p, t) in {1: (6.0, 4.0), 2: (7.0, 4.0), 3: (5.0, 4.0)}.items():  # the report split's scores
        finished_run(report_dir(out, paper.slug, seed), p, tested=50.0)  # must not be what the check reads
        finished_run(report_dir(out, tuned.slug, seed), t, tested=99.0)
    check = choice_check(protocol, out, [1, 2, 3, 4])  # seed 4 never ran: left out
    assert "over seeds [1, 2, 3]?" in check
    assert "| loss_weight=3.0 (tuned) | 1 2 3 | 4.00 ± 0.00 | -2.00 [-4.48, +0.48], no difference shown |" in check


def test_several_tuning_seeds_rank_by_their_mean(tmp_path):
    """Seed 0 alone would pick weight 3 (10 against 5); over seeds 0 and 6 the paper's weight leads (7 against 6)."""
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU", seeds=[0, 6])
    paper, tuned = protocol.settings
    assert [s.name for s in tuning_steps(protocol, str(tmp_path), "mimic")] == [
        "mimic: tuning loss_weight=1.0 (seed 0)", "mimic: tuning loss_weight=3.0 (seed 0)",
        "mimic: tuning loss_weight=1.0 (seed 6)", "mimic: tuning loss_weight=3.0 (seed 6)"]
    for setting, seed, miou in ((paper, 0, 5.0), (paper, 6, 9.0), (tuned, 0, 10.0)):
        finished_run(tuning_dir(str(tmp_path), setting, seed), miou)
    assert tuning_scores(protocol, str(tmp_path)) == {paper: 7.0}  # weight 3 lacks seed 6: it cannot win yet
    finished_run(tuning_dir(str(tmp_path), tuned, 6), 2.0)
    assert best_setting(protocol, str(tmp_path)) == paper
    assert "| loss_weight=3.0 | 6.000 ± 5.657 |  |" in tuning_table(protocol, str(tmp_path))
    assert "(tuning split, seeds 0 6)" in tuning_table(protocol, str(tmp_path))


def test_tuning_seeds_are_distinct_and_apart_from_the_report_seeds():
    with pytest.raises(InvalidValue, match="repeat a seed"):
        load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU", seeds=[0, 0])
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU", seeds=[0, 1])
    with pytest.raises(InvalidValue) as err:
        arm_steps(protocol, "out", "mimic", [1, 2, 3])
    assert "\n" not in str(err.value) and "overlap the tuning seeds [0, 1]" in str(err.value)


def test_tuned_runs_wait_for_the_papers_only_while_they_may_be_the_same_runs(tmp_path):
    """A tuned run reuses the paper's when the grid chose the paper's setting, so it waits for it; once the grid
    has ended with another choice it need not (a short stay can run the tuned seeds first)."""
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU")
    paper, tuned = protocol.settings
    out = str(tmp_path)

    def waits(out):
        after = {step.name: step.after for step in arm_steps(protocol, out, "mimic", [1, 2])}
        return ["mimic: paper setting (seed 1)" in after["mimic: tuned setting (seed 1)"],
                "mimic: paper setting (seed 2)" in after["mimic: tuned setting (seed 2)"]]

    assert waits(out) == [True, True]  # nothing has run: the choice is not known
    finished_run(tuning_dir(out, tuned), 9.0)
    assert waits(out) == [True, True]  # the paper's grid point has not ended: weight 3 leads only so far
    finished_run(tuning_dir(out, paper), 5.0)
    assert waits(out) == [False, False]  # weight 3 chosen: its runs are its own
    tuned_step = next(step for step in arm_steps(protocol, out, "mimic", [1]) if step.name.startswith("mimic: tuned"))
    assert "mimic: tuning loss_weight=3.0" in tuned_step.after  # it still waits for the grid


def test_tuned_runs_wait_for_the_papers_when_the_grid_chose_the_papers_setting(tmp_path):
    protocol = load_protocol(MIMIC, {"distiller.loss_weight": [3.0]}, "mIoU")
    for setting, miou in zip(protocol.settings, (9.0, 5.0)):  # the paper's weight 1 leads
        finished_run(tuning_dir(str(tmp_path), setting), miou)
    tuned = next(step for step in arm_steps(protocol, str(tmp_path), "mimic", [1]) if "tuned" in step.name)
    assert "mimic: paper setting (seed 1)" in tuned.after

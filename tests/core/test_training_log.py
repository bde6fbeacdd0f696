"""Validation curves from a run's CSV logs, and where they stop rising (tools/val_curve.py)."""
import os

import pytest

from conftest import load_tool, write_training_log
from densekd.core.errors import InvalidValue, MissingFile
from densekd.core.training_log import plateau, read_logged, val_curve

METRIC = "val/ov/AP50_base"


def test_plateau_is_the_first_validation_no_later_one_beats_by_more_than_the_tolerance():
    curve = [(400, 0.50), (800, 0.70), (1200, 0.78), (1600, 0.785), (2000, 0.79), (2400, 0.781)]
    assert plateau(curve, tolerance=0.01) == 1200  # later ones gain at most 0.01 over 0.78
    assert plateau(curve, tolerance=0.0) == 2000  # the best one
    assert plateau(curve, tolerance=0.3) == 400


def test_a_curve_still_rising_at_its_end_plateaus_only_at_its_last_validation():
    assert plateau([(400, 0.1), (800, 0.2), (1200, 0.3)], tolerance=0.05) == 1200


def test_an_empty_curve_or_a_negative_tolerance_is_a_one_line_error():
    with pytest.raises(InvalidValue, match="never validated"):
        plateau([], 0.01)
    with pytest.raises(InvalidValue, match="tolerance=-1"):
        plateau([(1, 0.0)], -1)


def test_val_curve_reads_iterations_across_a_resumed_run_the_later_log_winning(tmp_path):
    write_training_log(str(tmp_path), [{"step": 399, METRIC: 0.4}, {"step": 799, METRIC: 0.5},
                                       {"step": 10, "train/loss": 2.0}], version=0)
    write_training_log(str(tmp_path), [{"step": 799, METRIC: 0.55}, {"step": 1199, METRIC: 0.6}], version=1)
    assert val_curve(str(tmp_path), "ov/AP50_base") == [(400, 0.4), (800, 0.55), (1200, 0.6)]
    assert list(read_logged(str(tmp_path), "train/")) == ["train/loss"]


def test_an_unlogged_metric_names_the_logged_ones_and_a_missing_log_the_path(tmp_path):
    write_training_log(str(tmp_path), [{"step": 399, METRIC: 0.4, "val/ov/AP50_novel": 0.1}])
    with pytest.raises(InvalidValue, match=r"logged no validation of 'mIoU' \(logged: ov/AP50_base, ov/AP50_novel\)"):
        val_curve(str(tmp_path), "mIoU")
    with pytest.raises(MissingFile, match="no training log in"):
        val_curve(str(tmp_path / "nowhere"), "mIoU")


def test_the_tool_prints_a_row_per_run_and_draws_the_curves(tmp_path, capsys):
    flat, rising = str(tmp_path / "flat"), str(tmp_path / "rising")
    write_training_log(flat, [{"step": s - 1, METRIC: v} for s, v in [(400, 0.6), (800, 0.8), (1200, 0.805)]])
    write_training_log(rising, [{"step": s - 1, METRIC: v} for s, v in [(400, 0.6), (800, 0.7), (1200, 0.8)]])
    out = str(tmp_path / "curve.png")
    rows = load_tool("val_curve").main([flat, rising, "--metric", "ov/AP50_base", "--out", out])
    assert [(r["plateau from"], r["converged"]) for r in rows] == [
        (800, "yes"), (1200, "no: still rising at its last validation")]
    assert rows[0]["best"] == "0.805 @ 1200" and rows[1]["first"] == "0.600 @ 400"
    assert "| run | validations |" in capsys.readouterr().out
    assert os.path.getsize(out) > 1000

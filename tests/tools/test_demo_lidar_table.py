"""tools/demo.py's 3D table: rows read a finished run's metrics (KITTI AP40 keys) without retraining."""
import json

from conftest import load_tool

demo = load_tool("demo")


def finished_run(work_dir, car_bev, seconds):
    work_dir.mkdir(parents=True)
    (work_dir / "train_summary.json").write_text(json.dumps({"iterations": 1200, "train_time_s": seconds}))
    metrics = {demo.KITTI_METRIC + key: car_bev - i for i, key in enumerate(demo.LIDAR_METRICS.values())}
    (work_dir / "metrics.json").write_text(json.dumps(metrics))


def test_lidar_rows_and_their_mean_come_from_the_runs_metrics(tmp_path):
    for seed, bev in ((0, 90.04), (1, 80.0)):
        finished_run(tmp_path / f"seed{seed}", bev, 100 + seed)
    rows = demo.seed_rows("PD", [0, 1], lambda seed: demo.lidar_row(
        "PD", "configs/demo/pointpillars_pointdistiller_lidar.py", str(tmp_path / f"seed{seed}"), seed),
        [*demo.LIDAR_METRICS, "train time (s)"])
    assert rows[0] == {"model": "PD", "seed": 0, "Car BEV": 90.0, "Car 3D": 89.0, "mean BEV": 88.0,
                       "mean 3D": 87.0, "train time (s)": 100}
    assert rows[2]["Car BEV"] == "85.000 ± 7.071" and rows[2]["model"] == "PD: mean of 2 finished runs"
    table = demo.markdown_table(rows, demo.LIDAR_COLUMNS)
    assert "| Car BEV | Car 3D | mean BEV | mean 3D |" in table

"""densekd's embedded demo: data, teachers, students and distilled students of every wing, their tables and
pictures. Re-running skips finished runs and resumes interrupted ones.

    python tools/demo.py                 # the first look (`make demo`): one seed, 40% schedules, ~40 min
    python tools/demo.py --full          # the tables of docs/ (`make demo-full`): tuning grids, 5 paired seeds, ablations, many hours
    python tools/demo.py [--wings seg lidar ov det] [--seeds 1 2 3 4 5] [--out DIR] [--jobs 2]

The plan of each wing is in densekd/demo/wings.py; the runner (steps side by side, logs, ETA) in
densekd/core/runner.py.
"""
from densekd.core.cli import run
from densekd.demo.tour import main

if __name__ == "__main__":
    run(main)

"""Report which units of LiDAR detectors still fire: for each module, the share of its outputs above zero and
the channels above zero anywhere, over some scans (a branch with none passes no task gradient back).

    python tools/alive_units.py CONFIG CHECKPOINT [CHECKPOINT ...] --modules neck.deblocks.0 neck.deblocks.1 \
        --scans data/kitti_synthetic/testing/velodyne_reduced/*.bin

Prints a Markdown table per checkpoint.
"""
import argparse

from densekd.core.activity import alive_table, alive_units
from densekd.core.cli import run
from densekd.det3d.visualize import load_lidar_detector, predict_boxes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the detector's config (a student's, or a teacher's own)")
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT")
    parser.add_argument("--modules", nargs="+", required=True, metavar="PATH",
                        help="sub-module paths, e.g. neck.deblocks.1 or 'backbone[1]' (an index into a tuple output)")
    parser.add_argument("--scans", nargs="+", required=True, help="LiDAR .bin scans (the detector's point layout)")
    args = parser.parse_args(argv)
    tables = {}
    for checkpoint in args.checkpoints:
        model = load_lidar_detector(args.config, checkpoint)
        stats = alive_units(model, args.modules, [lambda scan=scan: predict_boxes(model, scan) for scan in args.scans])
        tables[checkpoint] = alive_table(stats)
        print(f"## {checkpoint} ({len(args.scans)} scans)\n\n{tables[checkpoint]}\n")
    return tables


if __name__ == "__main__":
    run(main)

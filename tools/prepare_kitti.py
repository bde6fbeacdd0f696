"""Prepare a KITTI 3D object root for mmdet3d: velodyne_reduced, info JSONs and the GT database.

    python tools/prepare_kitti.py [--root data/kitti] [--overwrite]

Expects the KITTI object benchmark unzipped into ROOT (data_object_velodyne.zip,
data_object_label_2.zip, data_object_calib.zip, data_object_image_2.zip from
https://www.cvlibs.net/datasets/kitti/eval_object.php?obj_benchmark=3d) and the split files in
ROOT/ImageSets/{train,val,trainval}.txt. Writes ROOT/training/velodyne_reduced/, the mmdet3d v2
infos ROOT/kitti_infos_{train,val,trainval}.json (and _test when ImageSets/test.txt and
ROOT/testing/ exist), ROOT/kitti_gt_database/ and ROOT/kitti_dbinfos_train.json (read it with
db_sampler=dict(type='JsonDataBaseSampler', ...)). An unchanged, already prepared root is left as is
unless --overwrite.
"""
import argparse
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.data.kitti import prepare_kitti


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/kitti", help="dataset root (default: data/kitti)")
    parser.add_argument("--overwrite", action="store_true", help="prepare again even if up to date")
    return parser.parse_args(argv)


def print_summary(summary):
    """Print what prepare_kitti did: frames and objects a split, the GT database."""
    state = "prepared" if summary["generated"] else "already up to date, nothing rewritten"
    print(f"KITTI at {summary['root']} ({state})")
    for split, s in summary["splits"].items():
        objects = ", ".join(f"{name} {n}" for name, n in sorted(s["instances"].items())) or "no objects"
        print(f"  {split}: {s['frames']} frames; {objects}; DontCare {s['dont_care']}; "
              f"easy+moderate {100 * s['moderate_fraction']:.1f}%")
    database = ", ".join(f"{name} {n}" for name, n in summary["gt_database"].items()) or "empty"
    print(f"  GT database (kitti_gt_database/, kitti_dbinfos_train.json): {database}")


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = prepare_kitti(args.root, overwrite=args.overwrite)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"prepare_kitti: {err}")
    print_summary(summary)
    return summary


if __name__ == "__main__":
    run(main)

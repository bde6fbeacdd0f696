"""Distil any teacher / student pair of one task with one command: write the densekd config, then train it.

    python tools/distill.py --teacher CONFIG --teacher-checkpoint CKPT --student CONFIG --method NAME
        [--dry-run] [--work-dir DIR] [--cfg-options k=v ...] [--resume [CKPT]] [--devices N] [--accelerator ...]

A CONFIG is a file or a zoo name (mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py, mmseg::..., mmdet3d::...);
NAME is mimic, acam or pointdistiller. The config goes to WORK_DIR/distill_config.py (re-run it with
tools/train.py); --dry-run prints it with the feature pairs and their shapes, and stops.
"""
import argparse
import os

from densekd.core.cli import add_training_options, run
from densekd.core.config import load_config
from densekd.core.module import DistillModule
from densekd.core.pairing import METHODS, plan_distillation, write_config
from densekd.core.training import train


def config_name(name):
    return os.path.splitext(os.path.basename(name))[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="the teacher's config: a file or a zoo name")
    parser.add_argument("--teacher-checkpoint", required=True, help="its weights (OpenMMLab or densekd checkpoint)")
    parser.add_argument("--student", required=True, help="the student's config: a file or a zoo name")
    parser.add_argument("--method", required=True, help=f"one of {', '.join(METHODS)}")
    parser.add_argument("--dry-run", action="store_true", help="print the config and the feature pairs, and stop")
    add_training_options(parser)
    args = parser.parse_args(argv)

    pairing = plan_distillation(args.teacher, args.teacher_checkpoint, args.student, args.method,
                                args.cfg_options, args.devices)
    work_dir = args.work_dir or os.path.join(
        "work_dirs", f"{args.method}_{config_name(args.teacher)}_to_{config_name(args.student)}")
    path = write_config(pairing, os.path.join(work_dir, "distill_config.py"))
    cfg = load_config(path)
    if args.dry_run:
        DistillModule.from_config(cfg)  # the teacher's checkpoint loads, the features record, the pair is accepted
        print(open(path).read())
        print(f"{pairing.pairs_table()}\nwritten: {path} (train it with: python tools/train.py {path})")
        return pairing
    return train(cfg, path, work_dir, args.resume, args.devices, args.accelerator)


if __name__ == "__main__":
    run(main)

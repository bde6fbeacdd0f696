"""Train a model (plain or distilled) from a densekd config.

    python tools/train.py configs/demo/faster_rcnn_r18_mimic_shapes.py [--work-dir DIR]
        [--cfg-options k=v ...] [--resume [CKPT]] [--devices N] [--accelerator cpu|gpu|auto]
"""
import argparse

from densekd.core.cli import add_training_options, run
from densekd.core.config import default_work_dir, load_config
from densekd.core.training import train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    add_training_options(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    work_dir = args.work_dir or cfg.get("work_dir") or default_work_dir(args.config)
    return train(cfg, args.config, work_dir, args.resume, args.devices, args.accelerator)


if __name__ == "__main__":
    run(main)

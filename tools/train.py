"""Train a model (plain or distilled) from a densekd config.

    python tools/train.py configs/demo/faster_rcnn_r18_mimic_shapes.py [--work-dir DIR]
        [--cfg-options k=v ...] [--resume [CKPT]] [--devices N] [--accelerator cpu|gpu|auto]
"""
import argparse
import json
import os
import time

import lightning as L

from densekd import DistillModule
from densekd.core.cli import run
from densekd.core.config import DictAction, default_work_dir, load_config
from densekd.core.data import DataModule
from densekd.core.errors import MissingFile
from densekd.core.trainer import build_trainer, last_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--work-dir", help="default: work_dirs/<config name>")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="override config entries, e.g. train_cfg.max_iters=100")
    parser.add_argument("--resume", nargs="?", const="last", default=None,
                        help="resume from CKPT, or from WORK_DIR/last.ckpt when no path is given")
    parser.add_argument("--devices", type=int, default=None, help="devices per node")
    parser.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    work_dir = args.work_dir or cfg.get("work_dir") or default_work_dir(args.config)
    os.makedirs(work_dir, exist_ok=True)
    ckpt_path = None
    if args.resume:
        ckpt_path = last_checkpoint(work_dir) if args.resume == "last" else args.resume
        if not os.path.isfile(ckpt_path):
            raise MissingFile(f"checkpoint to resume from not found: {ckpt_path}")
    cfg.dump(os.path.join(work_dir, "config.py"))

    L.seed_everything(cfg.get("seed", 0), workers=True, verbose=False)
    datamodule = DataModule(cfg)  # checks the data exists before building any model
    module = DistillModule.from_config(cfg, init_weights=ckpt_path is None)
    trainer = build_trainer(cfg, work_dir, args.devices, args.accelerator)
    start = time.perf_counter()

    def write_summary(**extra):
        if trainer.is_global_zero:
            summary = dict(config=args.config, iterations=trainer.global_step,
                           train_time_s=round(time.perf_counter() - start, 1), resumed_from=ckpt_path, **extra)
            with open(os.path.join(work_dir, "train_summary.json"), "w") as f:
                json.dump(summary, f, indent=2)

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except FloatingPointError as err:  # a diverged run is a result too: say so where tables look
        write_summary(diverged=str(err))
        raise
    trainer.save_checkpoint(last_checkpoint(work_dir))  # the final state, whatever the interval
    write_summary()
    if trainer.is_global_zero:
        print(f"trained {trainer.global_step} iterations in {time.perf_counter() - start:.0f} s; "
              f"checkpoint: {last_checkpoint(work_dir)}")
    return trainer


if __name__ == "__main__":
    run(main)

"""Evaluate a trained student: print a metrics table and write WORK_DIR/metrics.json.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import json
import os

from densekd import DistillModule
from densekd.core.cli import run
from densekd.core.config import DictAction, default_work_dir, load_config
from densekd.core.data import DataModule
from densekd.core.module import load_student_weights
from densekd.core.report import json_safe, metrics_table, per_class_table
from densekd.core.trainer import build_trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint", help="a densekd training checkpoint or an exported student")
    parser.add_argument("--work-dir", help="where metrics.json goes; default: work_dirs/<config name>")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    parser.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None)
    args = parser.parse_args(argv)

    cfg = load_config(args.config, args.cfg_options)
    work_dir = args.work_dir or cfg.get("work_dir") or default_work_dir(args.config)
    os.makedirs(work_dir, exist_ok=True)
    datamodule = DataModule(cfg, splits=("test",))
    module = DistillModule.from_config(cfg, with_teacher=False)  # only the student is evaluated
    load_student_weights(module.student, args.checkpoint)
    trainer = build_trainer(cfg, work_dir, devices=1, accelerator=args.accelerator, for_test=True)
    trainer.test(module, datamodule=datamodule, verbose=False)
    metrics = {k: v for k, v in module.eval_metrics.items() if isinstance(v, (int, float))}
    with open(os.path.join(work_dir, "metrics.json"), "w") as f:
        json.dump(json_safe(metrics), f, indent=2)  # NaN (a class absent everywhere) -> null
    classes = per_class_table(metrics)  # '' unless the metric reports per-class values
    print(f"{args.config} @ {args.checkpoint}\n{metrics_table(metrics)}" + (f"\n\n{classes}" if classes else ""))
    return metrics


if __name__ == "__main__":
    run(main)

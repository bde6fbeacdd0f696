"""Export the student alone, in its own library's form (mmdet): a checkpoint plus a standalone config.

    python tools/export_student.py CONFIG CHECKPOINT OUT_DIR

    from mmdet.apis import init_detector, inference_detector
    model = init_detector('OUT_DIR/student_config.py', 'OUT_DIR/student.pth')

Neither densekd, the teacher nor the distiller's adapters are needed to load the result.
"""
import argparse
import os

import torch
from mmengine.config import Config

from densekd.core.config import config_classes, load_config
from densekd.core.module import load_student_weights
from densekd.core.registry import build

STANDALONE_KEYS = ("model", "test_dataloader", "test_evaluator", "test_pipeline")


def export_student(config, checkpoint, out_dir):
    """Write ``out_dir/student.pth`` and ``out_dir/student_config.py``; return their paths."""
    cfg = load_config(config)
    student = load_student_weights(build(cfg.model), checkpoint)  # strict: weights match the config
    os.makedirs(out_dir, exist_ok=True)
    classes = config_classes(cfg)
    meta = dict(dataset_meta=dict(classes=classes) if classes else {},
                exported_by="densekd", source_config=config, source_checkpoint=checkpoint)
    weights_path = os.path.join(out_dir, "student.pth")
    torch.save(dict(state_dict=student.state_dict(), meta=meta), weights_path)

    standalone = {k: cfg[k] for k in STANDALONE_KEYS if k in cfg}
    standalone["default_scope"] = "mmdet"
    config_path = os.path.join(out_dir, "student_config.py")
    Config(standalone).dump(config_path)
    return weights_path, config_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    weights, config = export_student(args.config, args.checkpoint, args.out_dir)
    print(f"student weights: {weights}\nstudent config:  {config}")


if __name__ == "__main__":
    main()

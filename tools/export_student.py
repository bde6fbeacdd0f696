"""Export the student alone, in its own library's form (mmdet, mmseg): a checkpoint plus a standalone config.

    python tools/export_student.py CONFIG CHECKPOINT OUT_DIR

    from mmdet.apis import init_detector, inference_detector      # a detector (default_scope mmdet)
    model = init_detector('OUT_DIR/student_config.py', 'OUT_DIR/student.pth')
    from mmseg.apis import init_model, inference_model            # a segmentor (default_scope mmseg)
    model = init_model('OUT_DIR/student_config.py', 'OUT_DIR/student.pth')

Neither densekd, the teacher nor the distiller's adapters are needed to load the result —
except where the student itself has densekd parts (OADP's text-embedding classifier and RoI head):
then the config imports densekd as a plugin, the distillation-only branches are left out
and the class text embeddings are copied next to the weights.
"""
import argparse
import os
import shutil

import torch
from mmengine.config import Config

from densekd.core.cli import run
from densekd.core.config import dataset_meta, load_config
from densekd.core.module import load_student_weights
from densekd.core.registry import build, use_scope

STANDALONE_KEYS = ("model", "test_dataloader", "test_evaluator", "test_pipeline")


def drop_distillation_branches(student, model_cfg, state_dict):
    """Remove the student's distillation-only branches (a child module's ``distillation_only``,
    e.g. OADP's block and global heads) from its config and weights."""
    for child_name, child in student.named_children():
        for branch in getattr(child, "distillation_only", ()):
            model_cfg[child_name][branch] = None
            prefix = f"{child_name}.{branch}."
            for key in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[key]


def bundle_text_embeddings(cfg, out_dir):
    """Copy every ``text_embeddings`` file the config names next to the export, pointing the config at
    the copy (``{{fileDirname}}``), so the exported student loads from any working directory."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == "text_embeddings" and isinstance(value, str):
                shutil.copy(value, os.path.join(out_dir, os.path.basename(value)))
                cfg[key] = "{{fileDirname}}/" + os.path.basename(value)
            else:
                bundle_text_embeddings(value, out_dir)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            bundle_text_embeddings(value, out_dir)


def export_student(config, checkpoint, out_dir):
    """Write ``out_dir/student.pth`` and ``out_dir/student_config.py``; return their paths."""
    cfg = load_config(config)
    scope = use_scope(cfg)
    student = load_student_weights(build(cfg.model), checkpoint)  # strict: weights match the config
    os.makedirs(out_dir, exist_ok=True)
    state_dict = student.state_dict()
    drop_distillation_branches(student, cfg.model, state_dict)
    bundle_text_embeddings(cfg.model, out_dir)
    meta = dict(dataset_meta=dataset_meta(cfg),
                exported_by="densekd", source_config=config, source_checkpoint=checkpoint)
    weights_path = os.path.join(out_dir, "student.pth")
    torch.save(dict(state_dict=state_dict, meta=meta), weights_path)

    standalone = {k: cfg[k] for k in STANDALONE_KEYS if k in cfg}
    standalone["default_scope"] = scope
    if any(type(m).__module__.startswith("densekd.") for m in student.modules()):
        # densekd parts in the student itself (e.g. OADP's text classifier): the library loads them via the plugin
        standalone["custom_imports"] = dict(imports=["densekd"], allow_failed_imports=False)
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
    run(main)

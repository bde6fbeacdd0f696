"""Export the student alone, in its own library's form (mmdet, mmseg, mmdet3d): a checkpoint plus a standalone
config that the library loads without densekd, the teacher or the adapters (``tools/export_student.py``)."""
import os
import shutil

import torch
from mmengine.config import Config

from .config import dataset_meta, load_config
from .module import load_student_weights
from .registry import build, use_scope

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

"""Loading densekd configs (mmengine Python configs) with errors that say what to do."""
import os

from mmengine.config import Config, DictAction

__all__ = ["load_config", "DictAction", "default_work_dir", "config_classes", "dataset_meta"]


def load_config(path, cfg_options=None, required=("model", "train_cfg")):
    """Read an mmengine config file, apply ``--cfg-options`` overrides, check the ``required`` keys."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path} — run from the repository root; "
                                "configs live under configs/")
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        raise SyntaxError(f"config {path} is not valid Python: line {err.lineno}: {err.msg}. "
                          "Fix the file; configs are plain Python assignments.") from None
    except Exception as err:  # mmengine wraps syntax errors of _base_ files and others
        raise ValueError(f"config {path} could not be read: {err}") from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for key in required:
        if key not in cfg:
            hint = ("every training config needs 'model' (the student) and 'train_cfg' "
                    "(max_iters, val_interval)") if key in ("model", "train_cfg") else f"add a '{key}' entry"
            raise KeyError(f"config {path} has no '{key}': {hint}")
    return cfg


def default_work_dir(config_path):
    """``work_dirs/<config name>``, the mmdet convention."""
    return os.path.join("work_dirs", os.path.splitext(os.path.basename(config_path))[0])


def dataset_meta(cfg):
    """``{'classes': [...], 'palette': [...]}`` of a config's test data: its ``classes``, the test
    dataset's ``metainfo``, else the dataset class's own ``METAINFO`` (e.g. mmseg's Cityscapes)."""
    from .registry import DATASETS, use_scope

    dataset = cfg.test_dataloader.dataset
    meta = dict(dataset.get("metainfo") or {})
    if cfg.get("classes"):
        meta.setdefault("classes", cfg.classes)
    if "classes" not in meta:
        use_scope(cfg)
        with DATASETS.switch_scope_and_registry(None) as registry:
            dataset_class = registry.get(dataset.type)
        meta = {**getattr(dataset_class, "METAINFO", {}), **meta}
    return {key: list(meta[key]) for key in ("classes", "palette") if meta.get(key)}


def config_classes(cfg):
    """The class names a config trains on (see :func:`dataset_meta`), or None."""
    return dataset_meta(cfg).get("classes")

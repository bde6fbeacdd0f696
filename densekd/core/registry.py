"""Registration of densekd components into mmdet's registries (the plugin entry).

densekd registers every model component (distillers, adapters, losses, masks, heads) straight into
``mmdet.registry.MODELS``, so a plain mmdet config with
``custom_imports = dict(imports=['densekd'], allow_failed_imports=False)`` builds them, and densekd
builds mmdet's own detectors through the very same registry.
"""
import difflib

from mmdet.registry import DATASETS, MODELS
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope, init_default_scope

__all__ = ["MODELS", "DATASETS", "build"]


def _known_types(registry):
    names = set()
    for reg in (registry, *registry.children.values()):
        names.update(reg.module_dict)
    if registry.parent is not None:
        names.update(registry.parent.module_dict)
    return sorted(names)


def build(cfg, registry=MODELS, **default_args):
    """Build ``cfg`` from ``registry``; an unknown ``type`` raises a KeyError naming close matches."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise TypeError(f"a component config must be a dict with a 'type' key, got: {cfg!r}")
    if DefaultScope.get_current_instance() is None:
        init_default_scope("mmdet")  # so nested parts (data preprocessor, transforms) resolve in mmdet
    cfg = ConfigDict(cfg)
    type_name = cfg["type"]
    if isinstance(type_name, str) and registry.get(type_name) is None:
        close = difflib.get_close_matches(type_name, _known_types(registry), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown type '{type_name}' in the {registry.scope}::{registry.name} registry.{hint} "
            "If it comes from densekd, check that the config has "
            "custom_imports = dict(imports=['densekd'])."
        )
    return registry.build(cfg, default_args=default_args or None)

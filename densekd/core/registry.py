"""Where densekd's components are registered (the plugin entry) and how configs are built.

densekd registers its components (distillers, adapters, losses, masks, metrics) in mmengine's root
registries. The registries of every OpenMMLab library (mmdet, mmseg, mmdet3d) are children of those
roots and fall back to them, so ``custom_imports = dict(imports=['densekd'])`` in an mmdet or an
mmseg config builds densekd's parts; and densekd builds the library's own models through the same
roots, resolved in the library that the config's ``default_scope`` names (mmdet when it names none).
"""
import difflib

from mmengine.config import ConfigDict
from mmengine.registry import DATASETS, METRICS, MODELS, DefaultScope, init_default_scope
from .errors import InvalidType, UnknownKey

__all__ = ["MODELS", "DATASETS", "METRICS", "DEFAULT_SCOPE", "build", "use_scope"]

DEFAULT_SCOPE = "mmdet"


def use_scope(cfg_or_scope):
    """Make a config's ``default_scope`` (or the scope name given) the library that resolves types."""
    scope = cfg_or_scope if isinstance(cfg_or_scope, str) else \
        (cfg_or_scope.get("default_scope") or DEFAULT_SCOPE)
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != scope:
        init_default_scope(scope)
    return scope


def _known_types(registry):
    """Every type name ``registry`` can build: its own, its children's and its ancestors'."""
    names = set()
    for reg in (registry, *registry.children.values()):
        names.update(reg.module_dict)
    parent = registry.parent
    while parent is not None:
        names.update(parent.module_dict)
        parent = parent.parent
    return sorted(names)


def build(cfg, registry=MODELS, **default_args):
    """Build ``cfg`` from ``registry``; an unknown ``type`` raises a KeyError naming close matches."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise InvalidType(f"a component config must be a dict with a 'type' key, got: {cfg!r}")
    if DefaultScope.get_current_instance() is None:
        use_scope(DEFAULT_SCOPE)  # so nested parts (data preprocessor, transforms) resolve somewhere
    cfg = ConfigDict(cfg)
    type_name = cfg["type"]
    with registry.switch_scope_and_registry(None) as scoped:  # the current library's registry
        if isinstance(type_name, str) and scoped.get(type_name) is None:
            close = difflib.get_close_matches(type_name, _known_types(scoped), n=5, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownKey(
                f"unknown type '{type_name}' in the {scoped.scope}::{scoped.name} registry.{hint} "
                "If it comes from densekd, check that the config has "
                "custom_imports = dict(imports=['densekd'])."
            )
    return registry.build(cfg, default_args=default_args or None)

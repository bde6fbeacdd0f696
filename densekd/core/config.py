"""Loading densekd configs (mmengine Python configs) with errors that say what to do."""
import argparse
import difflib
import glob
import importlib
import os
import tempfile
import threading

from mmengine.config import Config, DictAction

from .errors import InvalidValue, MissingFile, UnknownKey

__all__ = ["load_config", "read_config", "config_leaves", "resolve_config_path", "apply_overrides", "DictAction",
           "default_work_dir", "config_classes", "dataset_meta", "config_value", "check_key_exists"]
ZOO_SEPARATOR = "::"  # `mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py`: a config shipped inside a library
NEW_KEY_PREFIX = "+"  # `--cfg-options +trainer.max_time=...`: add a key the config does not have, on purpose
# Keys that change what a run reports about itself, not what it trains: a finished run without them is the same run.
DIAGNOSTIC_KEYS = {"train_cfg.grad_share_interval", "train_cfg.grad_share_features"}
# Keys densekd reads when a config has them: an override may set them without the prefix.
OPTIONAL_KEYS = {"load_from", "work_dir", "seed", "train_cfg.val_interval", "train_cfg.checkpoint_interval",
                 "train_cfg.log_interval", "train_cfg.best_metric", "train_cfg.keep_all_checkpoints"} | DIAGNOSTIC_KEYS
# mmengine reads configs through pkg_resources, whose working set two threads can corrupt for the whole
# process ("Expected str, Requirement, or Distribution"); the demo runner reads configs from its lanes.
_CONFIG_READ_LOCK = threading.RLock()  # re-entrant: a config may import a plugin that reads one


def load_config(path, cfg_options=None, required=("model", "train_cfg")):
    """Read an mmengine config file (a path or a zoo name, see :func:`resolve_config_path`), apply
    ``--cfg-options`` overrides, check the ``required`` keys."""
    path = resolve_config_path(path)
    if not os.path.isfile(path):
        raise MissingFile(f"config file not found: {path} — run from the repository root; "
                          "configs live under configs/")
    try:
        cfg = read_config(path)
    except SyntaxError as err:
        raise InvalidValue(f"config {path} is not valid Python: line {err.lineno}: {err.msg}. "
                           "Fix the file; configs are plain Python assignments.") from None
    except Exception as err:  # mmengine wraps syntax errors of _base_ files and others
        raise InvalidValue(f"config {path} could not be read: {err}") from err
    if cfg_options:
        apply_overrides(cfg, cfg_options)
    for key in required:
        if key not in cfg:
            hint = ("every training config needs 'model' (the student) and 'train_cfg' "
                    "(max_iters, val_interval)") if key in ("model", "train_cfg") else f"add a '{key}' entry"
            raise UnknownKey(f"config {path} has no '{key}': {hint}")
    return cfg


def read_config(path):
    """``Config.fromfile``, one thread at a time (see ``_CONFIG_READ_LOCK``)."""
    with _CONFIG_READ_LOCK:
        return Config.fromfile(path)


def resolve_config_path(name):
    """The file of a config: ``name`` itself, or for a model-zoo name (``mmdet::faster_rcnn/x.py``,
    ``mmseg::...``, ``mmdet3d::...``) the file that the installed library ships (its ``.mim/configs``)."""
    if ZOO_SEPARATOR not in name:
        return name
    package, _, relative = name.partition(ZOO_SEPARATOR)
    try:
        library = importlib.import_module(package)
    except ImportError:
        raise MissingFile(f"zoo config {name}: the library '{package}' is not installed — install it, or give "
                          "the config as a file path") from None
    root = os.path.join(os.path.dirname(library.__file__), ".mim", "configs")
    path = os.path.join(root, relative)
    if not os.path.isfile(path):
        shipped = [os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True)]
        close = difflib.get_close_matches(relative, shipped, n=3, cutoff=0.6)
        hint = f"close names: {', '.join(package + ZOO_SEPARATOR + c for c in close)}" if close else \
            f"list them with: ls {root}"
        raise MissingFile(f"zoo config not found: {name} ({package} {getattr(library, '__version__', '')} ships "
                          f"no configs/{relative}); {hint}")
    return path


def apply_overrides(cfg, options):
    """Apply ``--cfg-options`` (``{'a.b.c': value}``) to ``cfg``. A key must exist already, so a typo is
    refused with the close keys named (unless densekd reads it when present: ``OPTIONAL_KEYS``, e.g.
    ``load_from``); ``'+a.b.c'`` adds a key on purpose. List items are numbered: ``a.0.b``, ``a.1``."""
    for key, value in options.items():
        if key.startswith(NEW_KEY_PREFIX):
            key = key[len(NEW_KEY_PREFIX):]
        elif key not in OPTIONAL_KEYS:
            check_key_exists(cfg, key)
        key, value = _as_whole_list(cfg, key, value)
        cfg.merge_from_dict({key: value})


def _walk(cfg, parts):
    """(depth reached, node there) following dict keys and list indices ``parts`` down from ``cfg``."""
    node = cfg
    for depth, part in enumerate(parts):
        if hasattr(node, "keys") and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return depth, node
    return len(parts), node


def _as_whole_list(cfg, key, value):
    """mmengine merges ``a.0.b`` into a list of dicts but cannot set an item that is no dict (``a.1``):
    such an override becomes the whole list with that item replaced, ``(key, value)`` otherwise."""
    parent_key, _, index = key.rpartition(".")
    depth, parent = _walk(cfg, parent_key.split("."))
    if not (parent_key and index.isdigit() and depth == parent_key.count(".") + 1
            and isinstance(parent, (list, tuple)) and int(index) < len(parent)
            and not hasattr(parent[int(index)], "keys")):
        return key, value
    items = list(parent)
    items[int(index)] = value
    return _as_whole_list(cfg, parent_key, type(parent)(items))


def config_value(cfg, key, what="--cfg-options"):
    """The value at the dotted ``key`` (``'distiller.loss_weight'``, list items numbered); a missing key is refused
    as :func:`check_key_exists` says."""
    check_key_exists(cfg, key, what)
    return _walk(cfg, key.split("."))[1]


def check_key_exists(cfg, key, what="--cfg-options"):
    """Refuse a dotted ``key`` that ``cfg`` lacks in one line, naming the close keys (``what``: the option that
    named it)."""
    parts = key.split(".")
    depth, node = _walk(cfg, parts)
    if depth == len(parts):
        return
    part = parts[depth]
    parent = ".".join(parts[:depth]) or "the config"
    add = f" To add a new key on purpose, write {NEW_KEY_PREFIX}{key}=..." if what == "--cfg-options" else ""
    if isinstance(node, (list, tuple)):
        raise UnknownKey(f"{what} {key}: {parent} is a list of {len(node)}, it has no '{part}': number "
                         f"its items 0 to {len(node) - 1}, or set the whole list ({parent}=[...])")
    if not hasattr(node, "keys"):
        raise UnknownKey(f"{what} {key}: {parent} is {node!r}, not a dict, it has no '{part}'.{add}")
    siblings = [k for k in node.keys() if not k.startswith("_")]
    prefix = f"{parent}." if depth else ""
    close = [prefix + k for k in difflib.get_close_matches(part, siblings, n=3, cutoff=0.6)] or \
        [k for k in _dotted_keys(cfg) if difflib.get_close_matches(part, [k.rsplit(".", 1)[-1]], cutoff=0.8)][:3]
    hint = f"close keys: {', '.join(close)}" if close else f"{parent} has: {', '.join(sorted(siblings)[:20])}"
    raise UnknownKey(f"{what} {key}: the config has no such key ({parent} has no '{part}'); {hint}.{add}")


def _dotted_keys(node, prefix=""):
    """Every key of a nested config as 'a.b.c' (dicts only)."""
    keys = []
    for k in node.keys():
        if isinstance(k, str) and not k.startswith("_"):
            keys.append(prefix + k)
            if hasattr(node[k], "keys"):
                keys += _dotted_keys(node[k], f"{prefix}{k}.")
    return keys


def parse_cfg_options(options):
    """``['a.b=1', 'c=[2, 3]']`` as ``--cfg-options`` reads them (values parsed the same way)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    return parser.parse_args(["--cfg-options", *options]).cfg_options if options else {}


def settings_changed(cfg, dumped_path):
    """The dotted keys whose values differ between ``cfg`` and the config dumped at ``dumped_path`` (a finished
    run's ``config.py``), both read back from a dump so that tuples and lists compare alike; the diagnostic
    keys (``DIAGNOSTIC_KEYS``) do not count."""
    with tempfile.TemporaryDirectory() as folder:
        cfg.dump(os.path.join(folder, "config.py"))
        now = config_leaves(read_config(os.path.join(folder, "config.py")).to_dict())
    then = config_leaves(read_config(dumped_path).to_dict())
    return sorted(key for key in (now.keys() | then.keys()) - DIAGNOSTIC_KEYS
                  if now.get(key, _ABSENT) != then.get(key, _ABSENT))


_ABSENT = object()


def config_leaves(node, prefix=""):
    """``{'a.b.c': value}`` for every non-dict value of a nested dict."""
    leaves = {}
    for key, value in node.items():
        if isinstance(value, dict):
            leaves.update(config_leaves(value, f"{prefix}{key}."))
        else:
            leaves[prefix + str(key)] = value
    return leaves


def default_work_dir(config_path):
    """``work_dirs/<config name>``, the mmdet convention (for a zoo name too)."""
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

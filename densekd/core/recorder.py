"""Record the outputs of named sub-modules with forward hooks."""
import difflib
import re

from torch import nn
from .errors import InvalidValue, OutOfRange, UnknownKey

_PATH = re.compile(r"^(?P<module>[\w.]*?)(?:\[(?P<index>\d+)\])?$")


def parse_path(path):
    """Split ``'neck[2]'`` into ``('neck', 2)`` and ``'backbone.layer4'`` into ``('backbone.layer4', None)``."""
    match = _PATH.match(path)
    if match is None:
        raise InvalidValue(
            f"bad feature path {path!r}: use a dotted module path, optionally indexed into a "
            "tuple output, e.g. 'backbone.layer4' or 'neck[0]'"
        )
    index = match["index"]
    return match["module"], None if index is None else int(index)


def resolve_module(model, module_path):
    """Return ``model``'s sub-module at ``module_path``; a wrong path names the closest ones."""
    try:
        return model.get_submodule(module_path)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name]
        close = difflib.get_close_matches(module_path, names, n=5, cutoff=0.4)
        hint = f" Closest existing paths: {', '.join(close)}." if close else ""
        raise UnknownKey(
            f"no sub-module {module_path!r} in {type(model).__name__}.{hint} "
            "List them all with [n for n, _ in model.named_modules()]."
        ) from None


class FeatureRecorder:
    """Context manager that records the outputs of ``model``'s sub-modules named by ``paths``.

    A path is a dotted module path, optionally indexed into a tuple/list output: ``'neck[0]'``
    records the first FPN level. Hooks exist only inside the ``with`` block::

        recorder = FeatureRecorder(student, ['neck[0]', 'neck[1]'])
        with recorder:
            student.extract_feat(images)
        recorder.records['neck[0]']  # (N, C, H, W)
    """

    def __init__(self, model: nn.Module, paths):
        self.paths = list(paths)
        self._targets = {}  # module path -> [(record path, index)]
        for path in self.paths:
            module_path, index = parse_path(path)
            resolve_module(model, module_path)
            self._targets.setdefault(module_path, []).append((path, index))
        self.model = model
        self.records = {}
        self._handles = []

    def _hook(self, outputs_of):
        def hook(module, args, output):
            for path, index in outputs_of:
                if index is None:
                    self.records[path] = output
                elif isinstance(output, (tuple, list)) and index < len(output):
                    self.records[path] = output[index]
                else:
                    size = len(output) if isinstance(output, (tuple, list)) else "not a sequence"
                    raise OutOfRange(
                        f"feature path {path!r} indexes the output of {type(module).__name__}, "
                        f"but that output has length {size}"
                    )

        return hook

    def __enter__(self):
        self.records = {}
        for module_path, outputs_of in self._targets.items():
            module = self.model.get_submodule(module_path)
            self._handles.append(module.register_forward_hook(self._hook(outputs_of)))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        missing = [p for p in self.paths if p not in self.records]
        if missing and exc[0] is None:
            raise RuntimeError(
                f"features {missing} were not recorded: their modules did not run in this forward pass"
            )
        return False

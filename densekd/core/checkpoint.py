"""Reading checkpoints weights-only: densekd's (Lightning), plain state dicts, and OpenMMLab's (mmengine's Runner,
the mmdet / mmseg / mmdet3d model zoos, mmdet 2.x era included); no code pickled in a file runs."""
import os
import pickle
import re

import numpy as np
import torch

from .errors import InvalidType, InvalidValue, MissingFile

__all__ = ["load_checkpoint", "state_dict_of", "LoggedHistory", "ALLOWED_GLOBALS"]


class LoggedHistory:
    """A logged scalar's history in a runner checkpoint's ``message_hub`` (mmengine's ``HistoryBuffer``), read as
    its plain attributes (``_log_history``, ``_count_history``: arrays; ``max_length``; ``statistics_methods``)."""


def _attribute_name(owner, name):
    """Read ``getattr(owner, name)`` in a checkpoint as ``name`` alone (a HistoryBuffer's statistics method)."""
    return name


# What torch's weights-only unpickler must rebuild beyond tensors, builtins and what it allows itself (a MultiStepLR
# scheduler's Counter): exactly the globals it refused, one at a time, in checkpoints that mmengine 0.10's Runner
# wrote for an mmdet, an mmseg and an mmdet3d model (numpy 2), plus numpy 1's names for the same two numpy functions
# (checkpoints written before numpy 2: the model zoos'). For an allowlisted class, torch calls ``cls.__new__`` and
# then the instance's ``__setstate__`` if it has one, else updates its ``__dict__``.
# - mmengine.logging.history_buffer.HistoryBuffer (the message_hub's logged scalars) and builtins.getattr (pickle
#   protocol 2 writes a buffer's statistics_methods as getattr(HistoryBuffer, 'mean')) map to inert stand-ins:
#   HistoryBuffer's own __setstate__ would run mmengine code that merges the loaded methods into a dict its class
#   shares, and a real getattr would let a file reach any attribute of any allowed object. LoggedHistory has no
#   __setstate__: it only receives the attributes.
# - numpy's rebuilders, C code that reads raw bytes: _reconstruct + ndarray.__setstate__ (arrays: the buffers'
#   histories), scalar (numpy scalars: meta, runtime_info's eta), np.dtype + its class's __setstate__. Only the
#   float64 and int64 dtype classes are allowed, the ones met; an object dtype, whose items are pickled objects,
#   stays refused.
ALLOWED_GLOBALS = [
    (LoggedHistory, "mmengine.logging.history_buffer.HistoryBuffer"), (_attribute_name, "builtins.getattr"),
    np._core.multiarray._reconstruct, np._core.multiarray.scalar, np.ndarray, np.dtype,
    np.dtypes.Float64DType, np.dtypes.Int64DType,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
]
# The type named in torch's refusal: "GLOBAL os.system" (not allowed, or a blocked module), "got <class 'x.Y'>" (not
# buildable), "unrecognized function f" (not callable).
_REFUSED = re.compile(r"GLOBAL (\S+)|got <class '([^']+)'>|unrecognized function (\S+)")
# What torch raises for a file that is no checkpoint, besides UnpicklingError: empty (EOFError), text (KeyError, from
# the unpickler's memo), truncated or corrupt (RuntimeError, from the zip or the legacy reader).
_UNREADABLE = (EOFError, KeyError, RuntimeError)


def load_checkpoint(path, what="checkpoint", hint=""):
    """The whole checkpoint at ``path`` (a dict, as written), loaded weights-only; ``what`` and ``hint`` name the
    file and what to do when it is missing."""
    if not os.path.isfile(path):
        raise MissingFile(f"{what} not found: {path}" + (f" — {hint}" if hint else ""))
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, *_UNREADABLE) as err:
        reason = str(err).split("WeightsUnpickler error:")[-1].split("Check the documentation of torch.load")[0]
        found = _REFUSED.search(reason) if isinstance(err, pickle.UnpicklingError) else None
        if found is None:
            raise InvalidValue(f"{what} {path} is not a checkpoint torch can read ({type(err).__name__}: "
                               f"{_first_sentence(reason) or 'no data'}) — is it the right file, or a partial copy?") \
                from None
        name = next(group for group in found.groups() if group)
        raise InvalidType(
            f"{what} {path} holds a pickled {name}, which densekd does not load (unpickling it could run code) — "
            "if you trust the file, re-save its weights in a trusted environment: torch.save({'state_dict': "
            "torch.load(path, weights_only=False)['state_dict']}, new_path)") from None


def _first_sentence(text):
    """The first sentence of ``text``, on one line (torch's messages run on with advice that does not apply here)."""
    return " ".join(str(text).split()).split(". ")[0]


def state_dict_of(checkpoint, path, what="checkpoint"):
    """The weights of a loaded ``checkpoint``: its ``state_dict`` entry (densekd, Lightning, mmengine, the model
    zoos), or the checkpoint itself when it is a plain state dict."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state, dict):
        raise InvalidType(f"{what} {path} holds a {type(state).__name__}, not a state dict — save one with "
                          "torch.save({'state_dict': model.state_dict()}, path)")
    others = [f"{k} ({type(v).__name__})" for k, v in state.items()
              if not torch.is_tensor(v) and not k.endswith("_extra_state")]
    if others:
        where = "its 'state_dict'" if state is not checkpoint else "it has no 'state_dict' entry and"
        raise InvalidType(f"{what} {path}: {where} is no state dict (not tensors: {', '.join(others[:5])}) — "
                          "save the weights with torch.save({'state_dict': model.state_dict()}, path)")
    return state

"""The errors densekd raises on purpose. Their message says what was wrong, the value seen and what to do.

Each is also the matching built-in (``InvalidValue`` is a ``ValueError``, ...), so ``except ValueError``
still catches it. The command lines (:func:`densekd.core.cli.run`) print them as one line without a
traceback unless ``--debug`` is given; any other exception is a bug and keeps its traceback.
"""


class DensekdError(Exception):
    """Base of the errors densekd raises on purpose."""


class InvalidValue(DensekdError, ValueError):
    """A value densekd cannot use: a config entry, an argument, a tensor of the wrong shape."""


class MissingFile(DensekdError, FileNotFoundError):
    """A file or folder densekd needs is not there: data, a checkpoint, a cache, a config."""


class UnknownKey(DensekdError, KeyError):
    """A name densekd does not know: a config key, a registered type, a recorded feature."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidType(DensekdError, TypeError):
    """An object of a type densekd cannot use."""


class OutOfRange(DensekdError, IndexError):
    """An index past the end of what densekd has (a level, a pair, a sub-module)."""


class Diverged(DensekdError, FloatingPointError):
    """Training met a non-finite loss and stopped."""


class StepFailed(DensekdError, RuntimeError):
    """A step that densekd runs (a worker, a cache shard) failed; the message names how to rerun it."""


class InUse(DensekdError, RuntimeError):
    """A folder that another process is writing to (a training's work dir)."""

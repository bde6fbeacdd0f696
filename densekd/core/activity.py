"""Which of a model's units still fire: the share of a module's outputs above zero, and how many of its channels
are above zero anywhere in an input. A branch whose ReLU outputs are all zero passes no task gradient back, so a
distillation loss on the features feeding it shows a gradient share in the thousands without pulling any harder
(SECOND's second BEV stage on the 3D demo): this tells a dead branch from a loss that is too strong."""
import torch

from .recorder import FeatureRecorder
from .report import markdown_table


@torch.no_grad()
def alive_units(model, paths, forwards):
    """``{path: [(share of outputs > 0, channels > 0 somewhere, channels), one per input]}`` of ``model``'s
    sub-modules at ``paths`` (:class:`FeatureRecorder` paths), each of ``forwards`` running the model on one
    input."""
    recorder = FeatureRecorder(model, paths)
    stats = {path: [] for path in paths}
    with recorder:
        for forward in forwards:
            forward()
            for path in paths:
                alive = recorder.records[path] > 0  # (N, C, ...)
                per_channel = alive.transpose(0, 1).reshape(alive.shape[1], -1).any(dim=1)
                stats[path].append((alive.float().mean().item(), int(per_channel.sum()), alive.shape[1]))
    return stats


def alive_table(stats):
    """A Markdown row per module: the mean share of outputs > 0 over the inputs, and the channels > 0 (fewest to
    most over the inputs) of all."""
    rows = [{"module": path, "outputs > 0 (mean share)": f"{sum(s[0] for s in values) / len(values):.3f}",
             "channels > 0 (min-max over inputs)": f"{min(s[1] for s in values)}-{max(s[1] for s in values)} of "
                                                   f"{values[0][2]}"}
            for path, values in stats.items()]
    return markdown_table(rows, list(rows[0]))

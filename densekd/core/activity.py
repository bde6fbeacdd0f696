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


NEARLY_DEAD = 0.01  # a feature with fewer nonzero outputs than this share is a branch that has (nearly) died


def dead_feature_warning(path, feature):
    """A one-line warning when a teacher feature (a recorded tensor) is nearly all zeros, else ``None``. Distilling
    such a feature pulls the student's onto zeros: on the 3D demo, SECOND's teacher has 0.6 % of its second BEV
    stage's outputs above zero, and both PointDistiller and the mimic on that stage thin or kill the student's."""
    if not torch.is_tensor(feature) or feature.numel() == 0:
        return None
    share = (feature != 0).float().mean().item()
    if share >= NEARLY_DEAD:
        return None
    return (f"teacher feature '{path}' is nearly dead: {share:.2%} of its outputs on the first batch are nonzero, "
            "so distilling it pulls the student's onto zeros and can kill that branch (docs/det3d.md, the SECOND "
            "pair); distil features where the teacher is alive (tools/alive_units.py shows where), unless this one "
            "is sparse by design")

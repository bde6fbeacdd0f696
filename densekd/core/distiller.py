"""Distillers: recorded student/teacher features -> named, weighted distillation losses."""
from torch import nn

from .errors import InvalidValue, UnknownKey
from .adapters import resize_like, standardize_over_positions
from .losses import warmup_factor
from .registry import MODELS, build


class Distiller(nn.Module):
    """Base distiller: declares which features to record and weights its losses.

    Subclasses list the features they need in ``student_features`` / ``teacher_features`` and
    implement :meth:`compute_losses`, returning raw (unweighted) losses by name. Each loss is
    multiplied by ``loss_weights[name]`` and ramped up linearly over ``warmup_iters[name]``
    steps (a number applies to every loss).
    """

    # True when materialize() must see real feature shapes (one dummy forward at build time).
    lazy = False
    # True when student and teacher rows (voxel features) are paired one to one: both models must voxelize alike.
    pairs_voxel_rows = False

    def __init__(self, student_features, teacher_features, loss_weights, warmup_iters=0):
        super().__init__()
        self.student_features = list(student_features)
        self.teacher_features = list(teacher_features)
        self.loss_weights = dict(loss_weights)
        if isinstance(warmup_iters, dict):
            unknown = set(warmup_iters) - set(self.loss_weights)
            if unknown:
                raise UnknownKey(f"warmup_iters names unknown losses {sorted(unknown)}; "
                                 f"the losses are {sorted(self.loss_weights)}")
            self.warmup_iters = {k: warmup_iters.get(k, 0) for k in self.loss_weights}
        else:
            self.warmup_iters = {k: warmup_iters for k in self.loss_weights}

    def compute_losses(self, student_feats, teacher_feats, data):
        """Return ``{name: unweighted loss}`` from the recorded features and the batch."""
        raise NotImplementedError

    def materialize(self, student_feats, teacher_feats):
        """Run once at build time on dummy features: infer lazy widths and check shapes."""

    def forward(self, student_feats, teacher_feats, data=None, step=0):
        """Return ``{name: weighted loss}`` for training step ``step``."""
        raw = self.compute_losses(student_feats, teacher_feats, data)
        return {
            name: value * self.loss_weights[name] * warmup_factor(step, self.warmup_iters[name])
            for name, value in raw.items()
        }


@MODELS.register_module()
class FeatureMimicDistiller(Distiller):
    """Classic feature mimicking (FitNets on FPN levels): loss(adapter(student_i), teacher_i).

    ``student_features[i]`` is paired with ``teacher_features[i]``; one adapter per pair when
    ``adapter`` is given (its output width is taken from the teacher feature), else the widths
    must already match. With ``normalize``, both sides are standardised per sample and channel
    over H x W first (as in PKD, Cao et al. 2022), so the loss does not depend on the teacher's
    activation scale. A student map of another size than the teacher's (the two pad their inputs
    differently) is resized to it. The per-pair losses are summed into ``loss_mimic``.

    The adapters' widths come from one dummy forward at build time, or from ``channels``, a list of
    ``(student, teacher)`` widths per pair (models whose input is not an image, e.g. point clouds).
    """

    def __init__(self, student_features, teacher_features, adapter=None,
                 loss=dict(type="FeatureMSELoss"), loss_weight=1.0, warmup_iters=0, normalize=False,
                 channels=None):
        super().__init__(student_features, teacher_features,
                         loss_weights=dict(loss_mimic=loss_weight), warmup_iters=warmup_iters)
        if len(self.student_features) != len(self.teacher_features):
            raise InvalidValue(
                f"FeatureMimicDistiller pairs features one to one, but got "
                f"{len(self.student_features)} student and {len(self.teacher_features)} teacher paths"
            )
        self.adapter_cfg = adapter
        self.normalize = normalize
        self.adapters = nn.ModuleList()  # filled once the widths are known
        self.loss = build(loss)
        self.lazy = channels is None
        if channels is not None:
            if len(channels) != len(self.student_features):
                raise InvalidValue(f"channels gives {len(channels)} (student, teacher) widths for "
                                   f"{len(self.student_features)} feature pairs")
            self._build_adapters(channels)

    def materialize(self, student_feats, teacher_feats):
        if self.lazy:
            self._build_adapters([(student_feats[s].shape[1], teacher_feats[t].shape[1])
                                  for s, t in zip(self.student_features, self.teacher_features)])

    def _build_adapters(self, channels):
        for (s_path, t_path), (s_width, t_width) in zip(zip(self.student_features, self.teacher_features), channels):
            if self.adapter_cfg is None:
                if s_width != t_width:
                    raise InvalidValue(
                        f"student feature '{s_path}' has {s_width} channels but teacher feature "
                        f"'{t_path}' has {t_width}, and the distiller has no adapter: add "
                        "adapter=dict(type='ConvAdapter') to the distiller config"
                    )
                self.adapters.append(nn.Identity())
            else:
                self.adapters.append(build(dict(self.adapter_cfg, out_channels=t_width, in_channels=s_width)))

    def _standardise(self, x):
        return standardize_over_positions(x.float()) if self.normalize else x

    def compute_losses(self, student_feats, teacher_feats, data):
        total = 0
        for adapter, s, t in zip(self.adapters, self.student_features, self.teacher_features):
            teacher = teacher_feats[t]
            student = self._standardise(resize_like(adapter(student_feats[s]), teacher))
            teacher = self._standardise(teacher)
            total = total + self.loss(student, teacher)
        return dict(loss_mimic=total)

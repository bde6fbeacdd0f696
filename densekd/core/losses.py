"""Distillation losses (functional forms and registered module wrappers) and loss-weight warm-up.

The losses carry no ``loss_weight``: a distiller multiplies each one by its weight and by
``warmup_factor``. They compute in float32, so they are safe to call under ``torch.autocast``.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from densekd.core.registry import MODELS
from .errors import InvalidValue

__all__ = [
    "mse_loss",
    "l1_loss",
    "kl_div_loss",
    "relation_loss",
    "asymmetric_loss",
    "dice_diversity_loss",
    "warmup_factor",
    "FeatureMSELoss",
    "FeatureL1Loss",
    "TemperatureKLLoss",
    "GramRelationLoss",
    "AsymmetricLoss",
    "DiceDiversityLoss",
]


def _check_same_shape(pred, target, what="pred and target"):
    if pred.shape != target.shape:
        raise InvalidValue(
            f"{what} must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)} "
            "— map the student features to the teacher's shape with an adapter "
            "(densekd.core.adapters) first."
        )


def _masked_mean(errors, mask):
    """Mean of ``errors`` (any shape), or its ``mask``-weighted mean (mask broadcastable to it)."""
    if mask is None:
        return errors.mean()
    mask = mask.to(errors.dtype)
    try:
        broadcasts = torch.broadcast_shapes(mask.shape, errors.shape) == errors.shape
    except RuntimeError:
        broadcasts = False
    if not broadcasts:
        raise InvalidValue(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the loss shape "
            f"{tuple(errors.shape)} — give it size 1 on the channel dim, e.g. (N, 1, H, W)."
        )
    mask = mask.reshape((1,) * (errors.dim() - mask.dim()) + tuple(mask.shape))
    # sum the errors over the dims the mask is broadcast along first: the mask never gets expanded
    spread = [d for d in range(errors.dim()) if mask.shape[d] == 1 and errors.shape[d] != 1]
    weighted = (errors.sum(dim=spread, keepdim=True) * mask).sum() if spread else (errors * mask).sum()
    total = mask.sum() * math.prod(errors.shape[d] for d in spread)
    # An all-zero mask gives weighted == 0; dividing by 1 keeps it 0 with a (zero) gradient.
    return weighted / torch.where(total > 0, total, torch.ones_like(total))


def mse_loss(pred, target, mask=None):
    """Mean squared error of pred/target (N, C, H, W) or any equal shapes; mask weights positions."""
    _check_same_shape(pred, target)
    return _masked_mean((pred.float() - target.float()).pow(2), mask)


def l1_loss(pred, target, mask=None):
    """Mean absolute error of pred/target (N, C, H, W) or any equal shapes; mask weights positions."""
    _check_same_shape(pred, target)
    return _masked_mean((pred.float() - target.float()).abs(), mask)


def kl_div_loss(student_logits, teacher_logits, temperature=1.0, dim=1):
    """T^2 * KL(teacher || student) over ``dim`` of logits (N, C) or (N, C, H, W), mean elsewhere."""
    _check_same_shape(student_logits, teacher_logits, "student and teacher logits")
    if temperature <= 0:
        raise InvalidValue(f"temperature must be > 0, got {temperature}")
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=dim)
    log_p_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=dim)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=dim)
    return kl.mean() * temperature**2


def relation_loss(student, teacher):
    """MSE between the Gram matrices (N, N) of student (N, Ds) and teacher (N, Dt) embeddings."""
    if student.dim() != 2 or teacher.dim() != 2 or student.shape[0] != teacher.shape[0]:
        raise InvalidValue(
            f"relation_loss needs (N, Ds) and (N, Dt) inputs with the same N, got "
            f"{tuple(student.shape)} and {tuple(teacher.shape)} — flatten each sample to one row."
        )
    student, teacher = student.float(), teacher.float()
    return (student @ student.T - teacher @ teacher.T).pow(2).mean()


def asymmetric_loss(logits, targets, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8):
    """Asymmetric multi-label loss (Ridnik et al. 2021) of logits/targets (N, K), averaged over all N x K.

    A negative's probability is shifted down by ``clip``; the focusing weights ``(1 - p)^gamma_pos``
    and ``p_clipped^gamma_neg`` carry no gradient (as in ASL's and OADP's code): they only say how
    much each element counts. The mean runs over every element, as OADP's reference reduces it.
    """
    _check_same_shape(logits, targets, "logits and targets")
    targets = targets.float()
    prob = torch.sigmoid(logits.float())
    prob_neg = (prob - clip).clamp(min=0) if clip else prob
    with torch.no_grad():
        focus = targets * (1 - prob).pow(gamma_pos) + (1 - targets) * prob_neg.pow(gamma_neg)
    positive = targets * prob.clamp(min=eps).log()
    negative = (1 - targets) * (1 - prob_neg).clamp(min=eps).log()
    return -(focus * (positive + negative)).mean()


def dice_diversity_loss(masks, eps=1e-6):
    """Mean Dice overlap between every ordered pair of the M masks in (N, M, L) or (N, M, H, W)."""
    if masks.dim() < 3:
        raise InvalidValue(f"masks must be (N, M, L) or (N, M, H, W), got shape {tuple(masks.shape)}")
    num_masks = masks.shape[1]
    if num_masks < 2:
        return masks.float().sum() * 0  # no pairs to push apart
    flat = masks.float().flatten(2)  # (N, M, L)
    overlap = flat @ flat.transpose(1, 2)  # (N, M, M)
    energy = overlap.diagonal(dim1=1, dim2=2)  # (N, M): sum of Mi^2
    dice = 2 * overlap / (energy[:, :, None] + energy[:, None, :] + eps)
    off_diagonal = ~torch.eye(num_masks, dtype=torch.bool, device=masks.device)
    return dice[:, off_diagonal].mean()


def warmup_factor(step, warmup_iters):
    """Linear loss-weight warm-up: min(1, step / warmup_iters), or 1.0 when warmup_iters <= 0."""
    if warmup_iters <= 0:
        return 1.0
    return min(1.0, max(0.0, step / warmup_iters))


@MODELS.register_module()
class FeatureMSELoss(nn.Module):
    """Module form of ``mse_loss``: (pred, target, mask=None) -> scalar."""

    def forward(self, pred, target, mask=None):
        return mse_loss(pred, target, mask)


@MODELS.register_module()
class FeatureL1Loss(nn.Module):
    """Module form of ``l1_loss``: (pred, target, mask=None) -> scalar."""

    def forward(self, pred, target, mask=None):
        return l1_loss(pred, target, mask)


@MODELS.register_module()
class TemperatureKLLoss(nn.Module):
    """Module form of ``kl_div_loss``: (student_logits, teacher_logits) -> scalar."""

    def __init__(self, temperature=1.0, dim=1):
        super().__init__()
        if temperature <= 0:
            raise InvalidValue(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.dim = dim

    def forward(self, student_logits, teacher_logits):
        return kl_div_loss(student_logits, teacher_logits, self.temperature, self.dim)

    def extra_repr(self):
        return f"temperature={self.temperature}, dim={self.dim}"


@MODELS.register_module()
class GramRelationLoss(nn.Module):
    """Module form of ``relation_loss``: student (N, Ds), teacher (N, Dt) -> scalar."""

    def forward(self, student, teacher):
        return relation_loss(student, teacher)


@MODELS.register_module()
class AsymmetricLoss(nn.Module):
    """Module form of ``asymmetric_loss``: logits, targets (N, K) -> scalar."""

    def __init__(self, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8):
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def forward(self, logits, targets):
        return asymmetric_loss(
            logits, targets, self.gamma_neg, self.gamma_pos, self.clip, self.eps
        )

    def extra_repr(self):
        return f"gamma_neg={self.gamma_neg}, gamma_pos={self.gamma_pos}, clip={self.clip}"


@MODELS.register_module()
class DiceDiversityLoss(nn.Module):
    """Module form of ``dice_diversity_loss``: masks (N, M, L) or (N, M, H, W) -> scalar."""

    def __init__(self, eps=1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, masks):
        return dice_diversity_loss(masks, self.eps)

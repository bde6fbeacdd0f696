"""Student -> teacher feature adapters: 2D maps or sets of vectors (ConvAdapter), vectors or tokens (LinearAdapter).

With the input width left as None the adapter uses a lazy layer, which learns its input width at the
first forward; run one forward (e.g. on a dummy batch) before building the optimizer.
"""
import torch
import torch.nn.functional as F
from torch import nn

from densekd.core.registry import MODELS
from .errors import InvalidValue

__all__ = ["ConvAdapter", "LinearAdapter", "resize_like", "standardize_over_positions", "whiten_over_positions"]


def resize_like(student, teacher):
    """A student map (N, C, h, w) at the teacher's spatial size (N, C, H, W), bilinear; other shapes as they are.
    Maps differ in size when the two models pad (or voxelize) their inputs differently."""
    if student.dim() != 4 or teacher.dim() != 4 or student.shape[-2:] == teacher.shape[-2:]:
        return student
    return F.interpolate(student, size=teacher.shape[-2:], mode="bilinear", align_corners=False)


def standardize_over_positions(x, eps=1e-5, dims=(2, 3)):
    """Each image's channel (N, C, H, W) to mean 0 and variance 1 over its positions, without affine: instance
    norm, also for a 1 x 1 map (which becomes 0, where F.instance_norm refuses it in training). ``dims``: the
    positions' dims for other layouts (the edges of a graph (Q, K, C): ``(0, 1)``)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def whiten_over_positions(x, shrink=1e-3):
    """Each image's map (N, C, H, W) with its channels decorrelated and of unit variance over its positions:
    ``L^-1 (x - mean)`` with ``L L^T`` the channels' covariance over positions plus ``shrink`` times their mean
    variance on the diagonal (a floor: directions weaker than that stay weak, so noise is not blown up). Where a
    map's variance lies in one or two directions, standardising each channel leaves it there; whitening gives
    every direction above the floor an equal share. In float32 outside autocast (a half-precision covariance
    would lose the weak directions this is for; the Cholesky factorisation takes no half precision): returns float32."""
    n, c, h, w = x.shape
    with torch.autocast(x.device.type, enabled=False):
        flat = x.float().flatten(2)
        centred = flat - flat.mean(-1, keepdim=True)  # (N, C, HW)
        covariance = centred @ centred.transpose(1, 2) / (h * w)
        floor = shrink * covariance.diagonal(dim1=1, dim2=2).mean(-1) + torch.finfo(flat.dtype).tiny
        covariance = covariance + floor[:, None, None] * torch.eye(c, dtype=flat.dtype, device=x.device)
        lower = torch.linalg.cholesky(covariance)
        return torch.linalg.solve_triangular(lower, centred, upper=False).view(n, c, h, w)


@MODELS.register_module()
class ConvAdapter(nn.Module):
    """Conv (kernel 1 or 3, same H, W) + optional BatchNorm + optional ReLU: (N, Cs, H, W) -> (N, Ct, H, W).

    With kernel 1 it also maps a set of vectors (P, Cs) -> (P, Ct) (voxel or pillar features), normalised
    over the P vectors.
    """

    def __init__(self, out_channels, in_channels=None, kernel_size=1, norm=True, relu=False):
        super().__init__()
        if kernel_size not in (1, 3):
            raise InvalidValue(f"kernel_size must be 1 or 3, got {kernel_size}")
        conv_args = dict(kernel_size=kernel_size, padding=kernel_size // 2, bias=not norm)
        if in_channels is None:
            self.conv = nn.LazyConv2d(out_channels, **conv_args)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, **conv_args)
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.activation = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.kernel_size = kernel_size

    def forward(self, x):
        if x.dim() == 2 and self.kernel_size == 1:  # (P, C) vectors as a (1, C, P, 1) map
            return self.forward(x.T[None, :, :, None])[0, :, :, 0].T
        if x.dim() != 4:
            raise InvalidValue(f"ConvAdapter expects (N, C, H, W) features (or (P, C) vectors with kernel_size=1), "
                               f"got shape {tuple(x.shape)}")
        return self.activation(self.norm(self.conv(x)))


@MODELS.register_module()
class LinearAdapter(nn.Module):
    """Linear + optional LayerNorm on the last dim: (..., Ds) -> (..., Dt)."""

    def __init__(self, out_features, in_features=None, norm=False):
        super().__init__()
        if in_features is None:
            self.linear = nn.LazyLinear(out_features)
        else:
            self.linear = nn.Linear(in_features, out_features)
        self.norm = nn.LayerNorm(out_features) if norm else nn.Identity()

    def forward(self, x):
        return self.norm(self.linear(x))

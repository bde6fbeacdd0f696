"""Mask generation shared by the method wings: boxes -> grid masks, learnable selection masks, top-k."""
import math

import torch
from torch import nn

from densekd.core.registry import MODELS
from .adapters import standardize_over_positions
from .errors import InvalidValue

__all__ = ["boxes_to_mask", "LearnableSelectionMasks", "mask_statistics", "pop_mask_statistics",
           "collapse_warning"]

FLAT_STD = 1e-3  # a mask varying less than this over its positions (channels) weights them alike: selects nothing
SATURATED = 1e-3  # a mask value this close to 0 or 1 sits in the sigmoid's flat tail, where no gradient moves it
DUPLICATE_R = 0.95  # a mask correlating above this with an earlier one (over positions) selects what that one does
MOSTLY = 0.5  # the share of flat (or duplicate) masks from which training warns that the masks have collapsed


def boxes_to_mask(boxes, image_size, grid_size):
    """Boxes (N, 4) xyxy in image pixels -> (N, h, w) float mask of the grid cells whose centre is inside."""
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise InvalidValue(f"boxes must be (N, 4) xyxy, got shape {tuple(boxes.shape)}")
    image_h, image_w = image_size
    grid_h, grid_w = grid_size
    boxes = boxes.float()
    device = boxes.device
    centre_x = (torch.arange(grid_w, device=device, dtype=torch.float32) + 0.5) * (image_w / grid_w)
    centre_y = (torch.arange(grid_h, device=device, dtype=torch.float32) + 0.5) * (image_h / grid_h)
    x1, y1, x2, y2 = boxes[:, 0:1], boxes[:, 1:2], boxes[:, 2:3], boxes[:, 3:4]  # (N, 1) each
    inside_x = (centre_x >= x1) & (centre_x < x2)  # (N, w)
    inside_y = (centre_y >= y1) & (centre_y < y2)  # (N, h)
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()


@MODELS.register_module()
class LearnableSelectionMasks(nn.Module):
    """M learnable selection units (M, C) turning features (N, C, H, W) into soft masks.

    mode 'spatial': (N, C, H, W) -> (N, M, H, W), one sigmoid map per unit over positions.
    mode 'channel': (N, C, H, W) -> (N, M, C), one sigmoid gate per unit over channels.
    """

    modes = ("spatial", "channel")

    def __init__(self, channels, num_masks, mode="spatial"):
        super().__init__()
        if mode not in self.modes:
            raise InvalidValue(f"mode must be one of {self.modes}, got {mode!r}")
        if channels < 1 or num_masks < 1:
            raise InvalidValue(
                f"channels and num_masks must be >= 1, got channels={channels}, num_masks={num_masks}"
            )
        self.channels = channels
        self.num_masks = num_masks
        self.mode = mode
        self.units = nn.Parameter(torch.empty(num_masks, channels))
        self.reset_parameters()

    def reset_parameters(self):
        """Uniform in +-1/sqrt(C), the scale nn.Linear uses."""
        bound = 1.0 / math.sqrt(self.channels)
        nn.init.uniform_(self.units, -bound, bound)

    def forward(self, features):
        if features.dim() != 4 or features.shape[1] != self.channels:
            raise InvalidValue(
                f"{type(self).__name__} expects features (N, {self.channels}, H, W), got shape "
                f"{tuple(features.shape)} — set channels={features.shape[1] if features.dim() == 4 else '?'} "
                "or adapt the features first."
            )
        units = self.units.to(features.dtype)
        if self.mode == "spatial":
            masks = torch.sigmoid(torch.einsum("mc,nchw->nmhw", units, features))
        else:
            pooled = features.mean(dim=(2, 3))  # (N, C)
            masks = torch.sigmoid(units[None] * pooled[:, None, :])  # (N, M, C)
        if self.training:  # the monitor's running sums, read (and reset) by pop_mask_statistics
            sums = getattr(self, "_statistics", {})
            self._statistics = {k: sums.get(k, 0) + v for k, v in mask_statistics(masks).items()}
            self._calls = getattr(self, "_calls", 0) + 1
        return masks

    def pop_statistics(self):
        """The mean :func:`mask_statistics` of the masks made in training since the last call (``{}`` if none)."""
        sums, calls = getattr(self, "_statistics", {}), getattr(self, "_calls", 0)
        self._statistics, self._calls = {}, 0
        return {k: v / calls for k, v in sums.items()}

    def extra_repr(self):
        return f"channels={self.channels}, num_masks={self.num_masks}, mode={self.mode!r}"


def mask_statistics(masks):
    """Whether masks (N, M, ...) in [0, 1] still select anything, and different things: ``std``, each mask's standard
    deviation over its positions (or channels), averaged; ``flat_share``, the share of masks with std < FLAT_STD;
    ``saturated_share``, the share whose every value lies within SATURATED of 0 or 1; ``duplicate_share``, the share
    of varying masks whose Pearson correlation over positions with an earlier varying mask of the same input exceeds
    DUPLICATE_R (M masks with duplicate share d act as about M (1 - d) masks). Tensors, so logging them does not wait
    for the device."""
    flat = masks.detach().float().flatten(2)  # (N, M, L)
    std = flat.std(-1, unbiased=False)
    saturated = (torch.minimum(flat, 1 - flat) < SATURATED).all(-1)
    varying = std >= FLAT_STD
    z = standardize_over_positions(flat, eps=torch.finfo(flat.dtype).tiny, dims=(-1,))
    correlation = z @ z.transpose(1, 2) / flat.shape[-1]  # (N, M, M) Pearson
    earlier = torch.ones_like(correlation[0], dtype=torch.bool).tril(-1)
    duplicate = ((correlation > DUPLICATE_R) & earlier & varying[:, None, :]).any(-1) & varying
    return dict(std=std.mean(), flat_share=(~varying).float().mean(), saturated_share=saturated.float().mean(),
                duplicate_share=duplicate.float().mean())


def pop_mask_statistics(module):
    """``{name: statistics}`` of every :class:`LearnableSelectionMasks` inside ``module`` that made masks in
    training since the last call (ACAM-KD's, or any distiller's built on them)."""
    found = {name: sub.pop_statistics() for name, sub in module.named_modules()
             if isinstance(sub, LearnableSelectionMasks)}
    return {name: stats for name, stats in found.items() if stats}


def collapse_warning(name, statistics, step):
    """A one-line warning when most of ``name``'s masks have gone flat, or duplicate one another, else ``None``."""
    flat, duplicate = float(statistics["flat_share"]), float(statistics.get("duplicate_share", 0.0))
    if flat > MOSTLY:
        return (f"masks '{name}' have collapsed at step {step}: {flat:.0%} of them are flat (std over their positions "
                f"< {FLAT_STD:g}; mean std {float(statistics['std']):.2g}), so they weight every position alike and "
                "no longer adapt to the input; the course is logged as train/masks/*, docs/acam_kd.md says why it "
                "happens")
    if duplicate > MOSTLY:
        return (f"masks '{name}' have collapsed at step {step}: {duplicate:.0%} of them duplicate another mask "
                f"(correlation over positions > {DUPLICATE_R:g}), so they select one or a few patterns where each "
                "was meant to select its own; the course is logged as train/masks/*, docs/acam_kd.md shows a case")
    return None

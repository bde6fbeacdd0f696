"""ACAM-KD (Lan & Tian, ICCV 2025): student-teacher cross-attention fusion + adaptive spatial and
channel masks, on segmentation logits or on every level of an FPN.

For one distilled map (teacher ``F_T``, student ``F_S`` mapped to the teacher's width by ``f_align``):

1. STCA-FF fuses the two: queries from one side (the teacher by default), keys and values from the
   other, softmax attention over positions -> ``F_fused`` (N, C, H, W).
2. ASCM turns ``F_fused`` into M spatial masks (N, M, H, W) and M channel masks (N, M, C) with the
   core's :class:`~densekd.core.masks.LearnableSelectionMasks` (sigmoid, recomputed every step).
3. With ``D = F_T - f_align(F_S)``, the losses are the mask-weighted squared errors normalised by
   the mask sums (averaged over masks, images and levels), plus a Dice diversity loss on the masks:
   ``L = L_task + alpha (L_spatial + L_channel) + lambda L_div``.

Choices where the paper leaves room (each is also in docs/acam_kd.md's fidelity list):

- Attention runs through ``F.scaled_dot_product_attention`` with Q, K, V zero-padded to one
  contiguous head width, so that PyTorch's fused kernels (flash / memory-efficient: memory O(HW))
  take it; ``kv_pool`` average-pools keys/values for very large maps (Faster R-CNN P2).
  Q and K are 1x1 projections to ``max(1, C // 2)`` channels (9 for Cityscapes' 19 logits), V keeps
  C; single head, no residual, no output projection, as described.
- Channel masks use an M x C unit matrix (``sigmoid(u_mc * v_c)``, v = GAP(F_fused)), not the
  literal rank-1 ``sigmoid(m_c v^T)``: with M x 1 units every channel mask would be a monotone
  function of the same vector v, so the M masks could differ only in sharpness and sign.
- The masks weight the squared error, ``M * D^2``: densekd's choice. The paper's ``||M ⊙ D||^2`` and
  MasKD's code (``(mask * y_s - mask * y_t) ** 2``) are ``M^2 D^2``; with masks trained by the loss, the
  squared form rewards shrinking the masks (on a toy the distillation error then grew from 2.6 to 68.7).
  The masked losses DO reach the mask units, the projections and the student through ``F_fused``: the
  paper trains everything with the one objective and names no stop-gradient. The mask-sum
  normalisation lets a mask drift toward low-error positions; ``detach_masks=True`` stops that gradient
  (then only L_div trains the units).
- Departure (``standardize_fused=True``, the default): the spatial units read ``F_fused`` standardised
  per image and channel over positions (no affine); the channel units read the raw map's GAP (the
  standardised one has none). As published (``standardize_fused=False``) the masks collapse within a
  few hundred steps: the fused map grows a spatially constant part that drives every sigmoid into
  saturation, and the Dice loss is lowered more cheaply by pulling the masks' scales apart than by
  covering different places, so every spatial mask ends constant over the image (docs/acam_kd.md).
- Option ``whiten_fused=True``: the spatial units read the fused map whitened over positions (channels
  decorrelated as well as standardised, :func:`~densekd.core.adapters.whiten_over_positions`). The attention
  concentrates the fused map's variance in one direction (on the segmentation demo 99.6 % in the top component
  at initialisation, against 64 % for the teacher's logits), and standardising each channel leaves it there,
  so 19 units can draw only one pattern and its complement; whitening hands every direction above a floor an
  equal share. It keeps the masks apart only with ``detach_masks=True``: the masked losses pull every mask
  towards the positions where the student already matches the teacher (on that demo a trained mask's mean
  error is 0.76 of the image's), so through them all masks go to the same place. The segmentation configs
  (``configs/_base_/distill/acam_seg.py``) set both, chosen on that demo's tuning split over 5 seeds; the FPN
  configs keep the standardised form, whose masks differ there (docs/acam_kd.md).
- ``L_div`` is the core's mean pairwise Dice (MasKD's form), on the spatial and on the channel
  masks, summed.
- ``f_align`` is a 1x1 conv without norm (``adapter``); when the student's map is smaller (a
  different output stride) it is resized bilinearly to the teacher's.
- A recorded feature that is a tuple (``'neck'`` of an FPN) is a list of levels: one fusion module
  and one set of mask units serve all levels (their widths are equal) and the losses are averaged
  over levels, so ``alpha`` means the same for one logit map and for five FPN levels.
"""
import torch
import torch.nn.functional as F
from torch import nn

from densekd.core.adapters import resize_like, standardize_over_positions, whiten_over_positions
from densekd.core.distiller import Distiller
from densekd.core.losses import dice_diversity_loss
from densekd.core.masks import LearnableSelectionMasks
from densekd.core.registry import MODELS, build
from ..core.errors import InvalidValue

__all__ = ["StudentTeacherCrossAttention", "ACAMDistiller", "masked_feature_loss"]


@MODELS.register_module()
class StudentTeacherCrossAttention(nn.Module):
    """STCA-FF: softmax(Q K^T / sqrt(C_qk)) V with Q from ``query`` side, K, V from the other.

    (N, C, H, W) x 2 -> (N, C, H, W). ``query='teacher'`` (default, the paper's) or ``'student'``.
    ``kv_pool`` > 1 average-pools the key/value side by that factor (memory for huge maps).
    ``residual`` adds the query map to the output (not in the paper's description: every output
    position is a convex combination of the same V rows, so without it the fused map — and the
    spatial masks made from it — can lose the positions' differences; see docs/acam_kd.md).
    """

    sides = ("teacher", "student")

    def __init__(self, channels, query="teacher", qk_channels=None, kv_pool=1, residual=False):
        super().__init__()
        if query not in self.sides:
            raise InvalidValue(f"query must be one of {self.sides}, got {query!r}")
        if kv_pool < 1:
            raise InvalidValue(f"kv_pool must be >= 1, got {kv_pool}")
        self.query, self.kv_pool, self.residual = query, kv_pool, residual
        qk_channels = qk_channels or max(1, channels // 2)
        self.q_proj = nn.Conv2d(channels, qk_channels, 1)
        self.k_proj = nn.Conv2d(channels, qk_channels, 1)
        self.v_proj = nn.Conv2d(channels, channels, 1)

    def forward(self, teacher, student):
        if teacher.shape != student.shape:
            raise InvalidValue(f"teacher and student maps must match after alignment, got "
                               f"{tuple(teacher.shape)} and {tuple(student.shape)}")
        queries, keys = (teacher, student) if self.query == "teacher" else (student, teacher)
        n, c, h, w = queries.shape
        if self.kv_pool > 1:
            keys = F.avg_pool2d(keys, self.kv_pool, ceil_mode=True)
        # The fused kernels (flash / memory-efficient) take only equal, contiguous head widths:
        # zero-pad Q, K (C_qk) and V (C) to one width; zero channels change neither Q K^T nor the
        # first C outputs. Without this SDPA falls back to the math path and its HW x HW matrix.
        width = -(-c // 8) * 8

        def heads(x):  # (N, C', H, W) -> (N, 1, HW, width)
            x = x.flatten(2).transpose(1, 2)[:, None]
            return F.pad(x, (0, width - x.shape[-1])).contiguous()

        q, k, v = heads(self.q_proj(queries)), heads(self.k_proj(keys)), heads(self.v_proj(keys))
        fused = F.scaled_dot_product_attention(q, k, v, scale=self.q_proj.out_channels ** -0.5)
        fused = fused[:, 0, :, :c].transpose(1, 2).reshape(n, c, h, w)
        return fused + queries if self.residual else fused


def masked_feature_loss(diff_sq, masks, mode):
    """Mask-weighted squared error normalised by each mask's sum, averaged over masks and images.

    ``diff_sq`` (N, C, H, W); spatial masks (N, M, H, W): sum(M_p D^2) / (C sum_p M_p);
    channel masks (N, M, C): sum(M_c D^2) / (HW sum_c M_c).
    """
    n, c, h, w = diff_sq.shape
    if mode == "spatial":
        weighted = torch.einsum("nmhw,nchw->nm", masks, diff_sq)
        norm = c * masks.flatten(2).sum(-1)
    elif mode == "channel":
        weighted = torch.einsum("nmc,nchw->nm", masks, diff_sq)
        norm = h * w * masks.sum(-1)
    else:
        raise InvalidValue(f"mode must be 'spatial' or 'channel', got {mode!r}")
    return (weighted / norm.clamp(min=1e-6)).mean()


@MODELS.register_module()
class ACAMDistiller(Distiller):
    """ACAM-KD on paired features: ``student_features[i]`` distils towards ``teacher_features[i]``.

    Losses: ``loss_acam_spatial``, ``loss_acam_channel`` (weight ``alpha``) and ``loss_acam_div``
    (weight ``lambda_div``). ``masks`` picks the mask kinds (the paper's ablation: spatial only,
    channel only, both); ``num_masks`` is M (19 for Cityscapes logits, 6 for detection).
    """

    lazy = True  # widths come from the recorded features
    mask_kinds = ("spatial", "channel")

    def __init__(self, student_features, teacher_features, num_masks=19, query="teacher",
                 masks=("spatial", "channel"), alpha=1.0, lambda_div=1.0, kv_pool=1,
                 adapter=dict(type="ConvAdapter", kernel_size=1, norm=False), detach_masks=False,
                 residual=False, standardize_fused=True, whiten_fused=False, warmup_iters=0):
        masks = tuple(masks)
        if not masks or set(masks) - set(self.mask_kinds):
            raise InvalidValue(f"masks must be a non-empty subset of {self.mask_kinds}, got {masks!r}")
        weights = {f"loss_acam_{kind}": alpha for kind in masks}
        weights["loss_acam_div"] = lambda_div
        super().__init__(student_features, teacher_features, weights, warmup_iters)
        if len(self.student_features) != len(self.teacher_features):
            raise InvalidValue(f"ACAMDistiller pairs features one to one, got {len(self.student_features)} "
                               f"student and {len(self.teacher_features)} teacher paths")
        self.num_masks, self.query, self.masks = num_masks, query, masks
        self.kv_pool, self.adapter_cfg, self.detach_masks = kv_pool, adapter, detach_masks
        if whiten_fused and not standardize_fused:
            raise InvalidValue("whiten_fused=True decorrelates the standardised fused map: set standardize_fused=True "
                               "with it, or whiten_fused=False for the published form")
        self.residual, self.standardize_fused, self.whiten_fused = residual, standardize_fused, whiten_fused
        self.pairs = nn.ModuleList()  # per feature pair: align, fuse, mask units (filled by materialize)

    @staticmethod
    def _levels(feature):
        """A recorded feature as a list of (N, C, H, W) maps: an FPN tuple is its levels."""
        return list(feature) if isinstance(feature, (tuple, list)) else [feature]

    def materialize(self, student_feats, teacher_feats):
        self.pairs = nn.ModuleList()  # built afresh from these features
        for s_path, t_path in zip(self.student_features, self.teacher_features):
            s_levels, t_levels = self._levels(student_feats[s_path]), self._levels(teacher_feats[t_path])
            if len(s_levels) != len(t_levels):
                raise InvalidValue(f"student '{s_path}' has {len(s_levels)} levels, teacher '{t_path}' "
                                   f"{len(t_levels)}: pair features with the same number of levels")
            widths = {t.shape[1] for t in t_levels}
            if len(widths) != 1:
                raise InvalidValue(f"teacher feature '{t_path}' has levels of different widths {sorted(widths)}: "
                                   "ACAM shares one fusion module across levels; list the levels as "
                                   "separate features instead")
            s_width, t_width = s_levels[0].shape[1], t_levels[0].shape[1]
            pair = nn.ModuleDict(dict(
                align=build(dict(self.adapter_cfg, in_channels=s_width, out_channels=t_width)),
                fuse=StudentTeacherCrossAttention(t_width, self.query, kv_pool=self.kv_pool,
                                                  residual=self.residual),
                **{kind: LearnableSelectionMasks(t_width, self.num_masks, kind) for kind in self.masks}))
            self.pairs.append(pair.to(t_levels[0].device))

    def align(self, pair, student, teacher):
        """The student map in the teacher's width and size: (N, Cs, h, w) -> (N, Ct, H, W)."""
        return resize_like(pair["align"](student), teacher)

    def level_masks(self, pair, teacher, aligned):
        """The fused map's masks: ``{'spatial': (N, M, H, W), 'channel': (N, M, C)}``."""
        fused = pair["fuse"](teacher, aligned)
        spatial = fused
        if self.whiten_fused:
            spatial = whiten_over_positions(fused)
        elif self.standardize_fused:
            spatial = standardize_over_positions(fused)
        inputs = {"spatial": spatial, "channel": fused}  # normalised, every channel's mean over positions would be 0
        return {kind: pair[kind](inputs[kind]) for kind in self.masks}

    def compute_losses(self, student_feats, teacher_feats, data):
        if len(self.pairs) != len(self.student_features):
            raise RuntimeError("ACAMDistiller is not materialized: call materialize() on one batch of "
                               "recorded features first (DistillModule does this when it is built)")
        totals = {f"loss_acam_{kind}": 0.0 for kind in (*self.masks, "div")}
        count = 0
        for pair, s_path, t_path in zip(self.pairs, self.student_features, self.teacher_features):
            for student, teacher in zip(self._levels(student_feats[s_path]), self._levels(teacher_feats[t_path])):
                teacher = teacher.float()
                aligned = self.align(pair, student.float(), teacher)
                masks = self.level_masks(pair, teacher, aligned)
                diff_sq = (teacher - aligned).pow(2)
                for kind, mask in masks.items():
                    weight = mask.detach() if self.detach_masks else mask
                    totals[f"loss_acam_{kind}"] = totals[f"loss_acam_{kind}"] + masked_feature_loss(diff_sq, weight, kind)
                    totals["loss_acam_div"] = totals["loss_acam_div"] + dice_diversity_loss(mask)
                count += 1
        return {name: value / count for name, value in totals.items()}


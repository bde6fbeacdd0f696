"""PointDistiller's local distillation (Zhang et al., CVPR 2023): a KNN graph around the most important
voxels, distilled edge by edge, reweighted by importance.

For each recorded feature pair and each scene of the batch:

1. every voxel / pillar / BEV position gets an importance (``importance``): the number of points in the
   pillar (``'points_per_voxel'``, PointPillars) or the channel-wise max of the teacher's feature
   (``'teacher_channel_max'``, SECOND's BEV maps); the N most important are the centres;
2. each centre's K nearest voxels of the same scene in the TEACHER's feature space form its local graph
   (the student's features are gathered with the same indices). N and K are counts per scene
   (``num_centres``, ``num_neighbours``) or shares of each scene's rows (``centre_share``,
   ``neighbour_share``): the configs give the reference's proportions as shares, so that a scene of any
   size gets graphs as local as the reference's (docs/det3d.md, "Graph sizes");
3. EdgeConv inputs [neighbour, centre] (``edge='concat'``, the paper's and the reference's form;
   ``'difference'`` gives DGCNN's [neighbour - centre, centre]) go through the student's 1x1 Conv-BN-ReLU
   adapter (the core's ``EdgeConv``, which computes that convolution without building the K x 2C inputs)
   to what it learns (``target``): ``'standardized'`` (the default), the teacher's own edge features
   standardised per channel over the edges (no affine, no ReLU), the student's adapter then a Conv-BN to
   2 x the teacher's width; ``'fixed_adapter'``, the teacher's edges through a fixed random Conv-BN-ReLU
   of a common width (``width``, default the student's); ``'trained_adapter'``, the same adapter trained,
   as in the reference;
4. the loss is the MSE between the two sides, each centre weighted by its importance over its scene's
   centres (``reweight``: ``'softmax'``, softmax(importance / temperature) x N, the reference's for
   PointPillars; ``'standardized'``, softmax of the standardised importance x N; ``'none'``; ``'as_run'``,
   the batch size everywhere, as the reference's SECOND branch computes).

Features are either voxel / pillar vectors (P, C) — their scene is column 0 of the batch's voxel
coordinates, ``data['inputs']['voxels']['coors']``, as mmdet3d's voxelizing data preprocessor makes
them — or BEV maps (B, C, H, W), one scene per map. Voxel vectors are paired row to row, so student and
teacher must voxelize alike (a pair whose data preprocessors differ is refused); a student BEV map of
another size than the teacher's (another voxel size or range) is resized to it.

Departures from the reference code (docs/det3d.md, fidelity list): centres and neighbours are taken per scene
(the reference picks 6000 centres over the whole batch and searches neighbours across scenes; the configs'
shares keep its proportions); the reweighting runs over each scene's centres; N, K and the temperature come
from the config. With both adapters trained (``target='trained_adapter'``, the reference's way) the two
sides learn to agree with each other instead of the student learning the teacher — on the demo the loss
fell to 0.0003 within 700 steps and its gradient share to 0.006; a fixed random adapter avoids that but
its ReLU zeroes about half of the targets, which ``'standardized'`` keeps (docs/det3d.md: the evidence).
The teacher's side never carries gradient into the teacher.
"""
import torch
from torch import nn

from densekd.core.adapters import resize_like, standardize_over_positions
from densekd.core.distiller import Distiller
from densekd.core.graph import EdgeConv, edge_features, knn_within_groups
from densekd.core.losses import mse_loss
from densekd.core.registry import MODELS
from ..core.errors import InvalidValue

IMPORTANCES = ("points_per_voxel", "teacher_channel_max")
REWEIGHTINGS = ("softmax", "standardized", "none", "as_run")
TARGETS = ("fixed_adapter", "trained_adapter", "standardized")


def _voxels(data):
    """The batch's voxelization (``voxels``, ``num_points``, ``coors``), or None."""
    return data.get("inputs", {}).get("voxels") if isinstance(data, dict) else None


def _as_list(value, n, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise InvalidValue(f"{what} gives {len(values)} values for {n} feature pairs")
    return values


def _one_of(choice, choices, key):
    if choice not in choices:
        raise InvalidValue(f"distiller.{key} must be one of {choices}, got {choice!r}")


class GraphSize:
    """A graph size per scene (centres N or neighbours K): a fixed ``count``, or a ``share`` of the scene's
    rows (pillars, voxels or BEV positions), rounded, at least 1 — the reference's proportions carried to
    scenes of any size. ``key``: the config key named in errors."""

    def __init__(self, count, share, key, share_key):
        if (count is None) == (share is None):
            raise InvalidValue(f"give one of distiller.{key} (a count per scene) and distiller.{share_key} (a share "
                               f"of each scene's rows), got {key}={count!r}, {share_key}={share!r}")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise InvalidValue(f"distiller.{key} must be an integer >= 1, got {count!r}")
        if share is not None and not 0 < share <= 1:
            raise InvalidValue(f"distiller.{share_key} must be in (0, 1], got {share!r}")
        self.count, self.share, self.key, self.share_key = count, share, key, share_key

    def of(self, rows):
        """The size for a scene of ``rows`` rows; a count larger than the scene is refused."""
        if self.share is not None:
            return max(1, round(self.share * rows))
        if self.count > rows:
            raise InvalidValue(f"distiller.{self.key}={self.count} is more than a scene's {rows} rows; lower it or "
                               f"give distiller.{self.share_key}, a share of each scene, instead")
        return self.count

    def __repr__(self):
        return f"{self.count}" if self.count is not None else f"{self.share:.4g} of a scene"


def importance_weights(importance, how, temperature=None, scenes=1):
    """Weights (n,) of one scene's n centres from their importance (n,), summing to n: ``'softmax'``:
    softmax(importance / temperature) x n (the reference's for PointPillars; on integer point counts at
    T = 0.01 it is an argmax); ``'standardized'``: softmax of the importance standardised over the centres,
    x n (weights grow e-fold per standard deviation, whatever the importance's scale); ``'none'``: ones;
    ``'as_run'``: ``scenes`` (the batch size) everywhere — what the reference's SECOND branch computes, a
    softmax over a size-1 dimension times the batch size."""
    n = importance.shape[0]
    if how == "softmax":
        return torch.softmax(importance / temperature, dim=0) * n
    if how == "standardized":
        # equal importances give z = 0 (ones) through the clamp, without a device sync on the spread
        z = (importance - importance.mean()) / importance.std(unbiased=False).clamp_min(1e-12)
        return torch.softmax(z, dim=0) * n
    return torch.full_like(importance, float(scenes if how == "as_run" else 1))


@MODELS.register_module()
class LocalGraphDistiller(Distiller):
    """PointDistiller's local graph distillation with reweighting (see the module docstring).

    ``student_channels`` / ``teacher_channels``: the recorded features' widths (an int, or one per
    pair); graph sizes, ``num_centres`` / ``centre_share`` and ``num_neighbours`` / ``neighbour_share``, too.
    The per-pair losses are summed into ``loss_graph``.
    """

    def __init__(self, student_features, teacher_features, student_channels, teacher_channels,
                 num_centres=None, num_neighbours=None, centre_share=None, neighbour_share=None,
                 importance="points_per_voxel", reweight="softmax", temperature=0.01, target="standardized",
                 width=None, edge="concat", loss_weight=1.0, warmup_iters=0, chunk_size=1024):
        super().__init__(student_features, teacher_features, loss_weights=dict(loss_graph=loss_weight),
                         warmup_iters=warmup_iters)
        pairs = len(self.student_features)
        if pairs != len(self.teacher_features):
            raise InvalidValue(f"LocalGraphDistiller pairs features one to one, but got {pairs} student and "
                               f"{len(self.teacher_features)} teacher paths")
        _one_of(importance, IMPORTANCES, "importance")
        _one_of(reweight, REWEIGHTINGS, "reweight")
        _one_of(target, TARGETS, "target")
        if reweight == "softmax" and not (temperature or 0) > 0:
            raise InvalidValue(f"distiller.temperature must be > 0, got {temperature!r}")
        self.centres = [GraphSize(n, share, "num_centres", "centre_share") for n, share in
                        zip(_as_list(num_centres, pairs, "num_centres"), _as_list(centre_share, pairs, "centre_share"))]
        self.neighbours = [GraphSize(k, share, "num_neighbours", "neighbour_share") for k, share in
                           zip(_as_list(num_neighbours, pairs, "num_neighbours"),
                               _as_list(neighbour_share, pairs, "neighbour_share"))]
        self.importance, self.reweight, self.temperature = importance, reweight, temperature
        self.target, self.edge, self.chunk_size = target, edge, chunk_size
        student_channels = _as_list(student_channels, pairs, "student_channels")
        teacher_channels = _as_list(teacher_channels, pairs, "teacher_channels")
        if target == "standardized":  # the student's adapter maps to the teacher's own (standardised) edges
            self.student_adapters = nn.ModuleList(EdgeConv(c, 2 * t, edge, relu=False)
                                                  for c, t in zip(student_channels, teacher_channels))
            self.teacher_adapters = nn.ModuleList()
        else:
            widths = _as_list(width, pairs, "width") if width is not None else student_channels
            self.student_adapters = nn.ModuleList(EdgeConv(c, w, edge) for c, w in zip(student_channels, widths))
            self.teacher_adapters = nn.ModuleList(EdgeConv(c, w, edge) for c, w in zip(teacher_channels, widths))
            self.teacher_adapters.requires_grad_(target == "trained_adapter")
        self.pairs_voxel_rows = importance == "points_per_voxel"  # pillar / voxel features, not BEV maps

    def extra_repr(self):
        return (f"N={self.centres}, K={self.neighbours}, importance={self.importance!r}, reweight={self.reweight!r}, "
                f"temperature={self.temperature}, target={self.target!r}, edge={self.edge!r}")

    def _rows(self, feature, data, path):
        """(P, C) or (B, C, H, W) -> rows (M, C) and their scene ids (M,)."""
        if feature.dim() == 4:
            batch, channels, height, width = feature.shape
            rows = feature.flatten(2).transpose(1, 2).reshape(-1, channels)
            return rows, torch.arange(batch, device=feature.device).repeat_interleave(height * width)
        if feature.dim() == 2:
            voxels = _voxels(data)
            if voxels is None or "coors" not in voxels:
                raise InvalidValue(f"feature '{path}' is a set of vectors {tuple(feature.shape)}: its scenes come from "
                                   "data['inputs']['voxels']['coors'], which this batch lacks (a voxelizing "
                                   "mmdet3d data preprocessor makes it)")
            return feature, voxels["coors"][:, 0].long()
        raise InvalidValue(f"feature '{path}' must be (P, C) voxel vectors or (B, C, H, W) BEV maps, "
                           f"got shape {tuple(feature.shape)}")

    def _importance(self, teacher_rows, data):
        if self.importance == "teacher_channel_max":
            return teacher_rows.detach().float().max(dim=1).values
        num_points = (_voxels(data) or {}).get("num_points")
        if num_points is None or len(num_points) != len(teacher_rows):
            raise InvalidValue("importance='points_per_voxel' needs data['inputs']['voxels']['num_points'], one "
                               f"count per row of the (P, C) features ({len(teacher_rows)}); use "
                               "importance='teacher_channel_max' for BEV maps")
        return num_points.float()

    def local_graphs(self, teacher_rows, groups, importance, pair=0):
        """The graphs of feature pair ``pair``: each scene's N most important rows (Q,), their weights (Q,)
        (:func:`importance_weights` over a scene's centres) and their K nearest rows of the same scene in the
        teacher's feature space (Q, K), the centre itself first. N is each scene's own; K is the batch's (its
        mean scene size, for a share)."""
        scenes = torch.unique(groups)
        centres, weights = [], []
        for group in scenes:
            members = torch.nonzero(groups == group).squeeze(1)
            top = importance[members].topk(self.centres[pair].of(len(members)))
            centres.append(members[top.indices])
            weights.append(importance_weights(top.values, self.reweight, self.temperature, len(scenes)))
        centres, weights = torch.cat(centres), torch.cat(weights)
        k = self.neighbours[pair].of(round(len(groups) / len(scenes)))
        return centres, weights, knn_within_groups(teacher_rows, groups, k, centres, self.chunk_size)

    def teacher_graphs(self, teacher, data, path, pair=0):
        """One recorded teacher feature -> (rows (M, C), scene ids (M,), centres, weights, neighbours)."""
        rows, groups = self._rows(teacher.detach(), data, path)
        return (rows, groups, *self.local_graphs(rows, groups, self._importance(rows, data), pair))

    def teacher_target(self, pair, rows, centres, neighbours):
        """What the student's graph learns: the teacher's adapter applied to its edges, or (``target=
        'standardized'``) the teacher's edge features standardised per channel over the edges, no affine."""
        if self.target == "standardized":
            return standardize_over_positions(edge_features(rows.float(), centres, neighbours, self.edge), dims=(0, 1))
        return self.teacher_adapters[pair](rows, centres, neighbours)

    def pair_loss(self, index, student, teacher, data):
        s_path, t_path = self.student_features[index], self.teacher_features[index]
        s_rows, s_groups = self._rows(resize_like(student, teacher), data, s_path)
        t_rows, groups, centres, weights, neighbours = self.teacher_graphs(teacher, data, t_path, index)
        if len(s_rows) != len(t_rows) or not torch.equal(s_groups, groups):
            raise InvalidValue(f"student feature '{s_path}' has {len(s_rows)} rows and teacher feature '{t_path}' "
                               f"{len(t_rows)}: they must be the same voxels / positions (the same voxel grid "
                               "and BEV size in both models)")
        s_graph = self.student_adapters[index](s_rows, centres, neighbours)  # (centres, K, width)
        t_graph = self.teacher_target(index, t_rows, centres, neighbours)
        return mse_loss(s_graph, t_graph, weights.view(-1, 1, 1))

    def compute_losses(self, student_feats, teacher_feats, data):
        total = sum(self.pair_loss(i, student_feats[s], teacher_feats[t], data)
                    for i, (s, t) in enumerate(zip(self.student_features, self.teacher_features)))
        return dict(loss_graph=total)

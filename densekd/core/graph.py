"""Neighbourhood graphs over feature vectors, kept within their own group (scene, image).

PointDistiller (the 3D wing) builds a K-nearest-neighbour graph in the teacher's feature space over the
most important voxels of each scene; a neighbour from another scene of the batch would tie unrelated
geometry together (the reference code searches the whole batch). The search here never crosses a
group, runs without a Python loop over points, and bounds its memory by ``chunk_size`` rows at a time.
"""
import torch

__all__ = ["knn_within_groups"]


@torch.no_grad()
def knn_within_groups(features, groups, k, chunk_size=1024):
    """(N, C) features and (N,) integer group ids -> (N, k) indices of each row's k nearest rows (squared
    Euclidean distance) among the rows of its own group, nearest first; the row itself comes first
    (distance 0). Rows whose group has fewer than k members repeat their own index in the remaining
    slots. Memory: one (chunk_size, group size) distance block at a time.
    """
    if features.dim() != 2 or groups.shape != features.shape[:1]:
        raise ValueError(f"features must be (N, C) and groups (N,), got {tuple(features.shape)} and "
                         f"{tuple(groups.shape)}")
    if k < 1 or chunk_size < 1:
        raise ValueError(f"k and chunk_size must be >= 1, got k={k}, chunk_size={chunk_size}")
    n = features.shape[0]
    neighbours = torch.arange(n, device=features.device)[:, None].repeat(1, k)  # self in every slot
    features = features.float()
    for group in torch.unique(groups):
        members = torch.nonzero(groups == group).squeeze(1)  # (M,)
        points = features[members]
        squared = (points * points).sum(dim=1)
        take = min(k, len(members))
        for start in range(0, len(members), chunk_size):
            query = points[start:start + chunk_size]
            distances = squared[start:start + chunk_size, None] - 2 * query @ points.T + squared[None, :]
            rows = torch.arange(len(query), device=features.device)
            distances[rows, rows + start] = -1.0  # the row itself first, whatever the rounding
            nearest = distances.topk(take, dim=1, largest=False).indices  # (chunk, take) within the group
            neighbours[members[start:start + chunk_size], :take] = members[nearest]
    return neighbours

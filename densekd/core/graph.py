"""Neighbourhood graphs over feature vectors, kept within their own group (scene, image).

PointDistiller (the 3D wing) builds a K-nearest-neighbour graph in the teacher's feature space around the
most important voxels of each scene; a neighbour from another scene of the batch would tie unrelated
geometry together (the reference code searches the whole batch). The search here never crosses a
group, runs without a Python loop over points, and bounds its memory by ``chunk_size`` rows at a time.
"""
import torch
from torch import nn
from .errors import InvalidValue

__all__ = ["knn_within_groups", "edge_features", "EdgeConv"]


@torch.no_grad()
def knn_within_groups(features, groups, k, query_index=None, chunk_size=1024):
    """K nearest rows (squared Euclidean distance) of each query row among the rows of its own group.

    ``features`` (N, C) and ``groups`` (N,) integer ids; the queries are the rows ``query_index`` (Q,)
    (all rows when None). Returns (Q, k) row indices, nearest first, the query row itself first (distance
    0). A query whose group has fewer than k rows repeats its own index in the remaining slots. Memory:
    one (chunk_size, group size) distance block at a time.
    """
    if features.dim() != 2 or groups.shape != features.shape[:1]:
        raise InvalidValue(f"features must be (N, C) and groups (N,), got {tuple(features.shape)} and "
                           f"{tuple(groups.shape)}")
    if k < 1 or chunk_size < 1:
        raise InvalidValue(f"k and chunk_size must be >= 1, got k={k}, chunk_size={chunk_size}")
    n = features.shape[0]
    if query_index is None:
        query_index = torch.arange(n, device=features.device)
    neighbours = query_index[:, None].repeat(1, k)  # self in every slot until filled
    features = features.float()
    # each row's position within its group, to find a query's own column in the group's distance block
    position = torch.empty(n, dtype=torch.long, device=features.device)
    for group in torch.unique(groups[query_index]):
        members = torch.nonzero(groups == group).squeeze(1)  # (M,) rows of the group, ascending
        position[members] = torch.arange(len(members), device=features.device)
        slots = torch.nonzero(groups[query_index] == group).squeeze(1)  # (Qg,) this group's queries
        queries = query_index[slots]
        points = features[members]
        squared = (points * points).sum(dim=1)
        take = min(k, len(members))
        for start in range(0, len(queries), chunk_size):
            rows = queries[start:start + chunk_size]
            query = features[rows]
            # minus the squared distance (topk of the largest is a little cheaper than of the smallest)
            closeness = 2 * query @ points.T - (query * query).sum(dim=1)[:, None] - squared[None, :]
            closeness[torch.arange(len(rows), device=features.device), position[rows]] = 1.0  # itself first
            nearest = closeness.topk(take, dim=1).indices  # (chunk, take) within the group
            neighbours[slots[start:start + chunk_size], :take] = members[nearest]
    return neighbours


def _check_form(form):
    if form not in ("concat", "difference"):
        raise InvalidValue(f"edge form must be 'concat' or 'difference', got {form!r}")


def edge_features(features, centres, neighbours, form="concat"):
    """The EdgeConv inputs of a KNN graph: (N, C) rows, (Q,) centres, (Q, K) neighbours -> (Q, K, 2C),
    [neighbour, centre] (``form='concat'``) or [neighbour - centre, centre] (``'difference'``)."""
    _check_form(form)
    neighbour, centre = features[neighbours], features[centres][:, None, :].expand(-1, neighbours.shape[1], -1)
    return torch.cat([neighbour - centre if form == "difference" else neighbour, centre], dim=2)


class EdgeConv(nn.Module):
    """A 1x1 Conv-BN-ReLU over the EdgeConv inputs of a KNN graph (:func:`edge_features`): (N, C) rows, (Q,)
    centres and (Q, K) neighbours -> (Q, K, out_channels); ``relu=False`` leaves out the ReLU.

    ``form='concat'`` convolves [neighbour, centre] (PointDistiller's paper and reference code),
    ``'difference'`` [neighbour - centre, centre] (DGCNN's EdgeConv). The convolution is linear, so it is
    computed as one projection of every row by each half of the weight, then gathered and added: equal
    to convolving the (Q, K, 2C) inputs, without building them (K times fewer multiplications).
    BatchNorm runs over the Q x K edges.
    """

    def __init__(self, in_channels, out_channels, form="concat", relu=True):
        super().__init__()
        _check_form(form)
        self.form, self.relu = form, relu
        self.weight = nn.Parameter(torch.empty(out_channels, 2 * in_channels))  # [neighbour half, centre half]
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv2d's default
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, features, centres, neighbours):
        if features.dim() != 2 or 2 * features.shape[1] != self.weight.shape[1]:
            raise InvalidValue(f"EdgeConv expects (N, {self.weight.shape[1] // 2}) features, "
                               f"got {tuple(features.shape)}")
        on_neighbour, on_centre = self.weight.chunk(2, dim=1)
        if self.form == "difference":  # W1 (n - c) + W2 c = W1 n + (W2 - W1) c
            on_centre = on_centre - on_neighbour
        edges = (features @ on_neighbour.T)[neighbours] + (features[centres] @ on_centre.T)[:, None, :]
        edges = self.norm(edges.flatten(0, 1)).view(edges.shape)
        return torch.relu(edges) if self.relu else edges

    def extra_repr(self):
        return (f"in_channels={self.weight.shape[1] // 2}, out_channels={self.weight.shape[0]}, form={self.form!r}, "
                f"relu={self.relu}")

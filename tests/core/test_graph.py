import pytest
import torch

from densekd.core.graph import knn_within_groups


def brute_force(features, groups, k):
    """Each row's k nearest rows of its own group by a full distance matrix (self first)."""
    distances = torch.cdist(features, features) ** 2
    distances[groups[:, None] != groups[None, :]] = float("inf")
    distances.fill_diagonal_(-1.0)
    return distances.topk(k, dim=1, largest=False).indices


def test_neighbours_never_cross_groups_even_when_the_other_group_is_nearer():
    # two interleaved scenes on a line: every point's nearest point (0.1 away) is in the other scene
    x = torch.arange(10, dtype=torch.float32)
    features = torch.stack([torch.cat([2 * x, 2 * x + 0.1]), torch.zeros(20)], dim=1)  # (20, 2)
    groups = torch.cat([torch.zeros(10, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    neighbours = knn_within_groups(features, groups, k=3)
    assert (groups[neighbours] == groups[:, None]).all()
    assert neighbours[:, 0].tolist() == list(range(20))  # itself first
    # point 2 of scene 0 (x = 4): its neighbours are x = 2 and x = 6 (rows 1 and 3), not x = 4.1 (row 12)
    assert sorted(neighbours[2, 1:].tolist()) == [1, 3]


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_chunked_search_equals_the_full_matrix(chunk_size):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(90, 16, generator=generator)
    groups = torch.randint(0, 3, (90,), generator=generator)
    neighbours = knn_within_groups(features, groups, k=5, chunk_size=chunk_size)
    expected = brute_force(features, groups, 5)
    # the same neighbour sets (ties in distance aside, which random data does not have)
    assert torch.equal(neighbours.sort(dim=1).values, expected.sort(dim=1).values)
    assert torch.equal(neighbours[:, 0], torch.arange(90))


def test_a_group_smaller_than_k_repeats_its_own_index():
    features = torch.tensor([[0.0], [1.0], [5.0], [6.0], [7.0]])
    groups = torch.tensor([0, 0, 1, 1, 1])
    neighbours = knn_within_groups(features, groups, k=4)
    assert neighbours[0].tolist() == [0, 1, 0, 0] and neighbours[1].tolist() == [1, 0, 1, 1]
    assert neighbours[3, :3].sort().values.tolist() == [2, 3, 4] and neighbours[3, 3] == 3


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="features must be"):
        knn_within_groups(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), k=2)
    with pytest.raises(ValueError, match="k=0"):
        knn_within_groups(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), k=0)

import pytest
import torch

from densekd.core.graph import EdgeConv, edge_features, knn_within_groups


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


def test_queries_search_every_row_of_their_own_group():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(60, 8, generator=generator)
    groups = torch.randint(0, 3, (60,), generator=generator)
    queries = torch.tensor([5, 17, 33, 2, 59])
    neighbours = knn_within_groups(features, groups, k=4, query_index=queries, chunk_size=2)
    expected = brute_force(features, groups, 4)[queries]
    assert torch.equal(neighbours.sort(dim=1).values, expected.sort(dim=1).values)
    assert torch.equal(neighbours[:, 0], queries)


def test_edge_features_by_hand():
    features = torch.tensor([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    centres, neighbours = torch.tensor([0, 2]), torch.tensor([[0, 1], [2, 0]])
    concat = edge_features(features, centres, neighbours)
    assert concat.shape == (2, 2, 4)
    assert concat[0, 1].tolist() == [2.0, 20.0, 1.0, 10.0]  # [neighbour 1, centre 0]
    assert concat[1, 1].tolist() == [1.0, 10.0, 4.0, 40.0]  # [neighbour 0, centre 2]
    difference = edge_features(features, centres, neighbours, "difference")
    assert difference[1, 1].tolist() == [-3.0, -30.0, 4.0, 40.0]  # [neighbour 0 - centre 2, centre 2]
    with pytest.raises(ValueError, match="edge form must be"):
        edge_features(features, centres, neighbours, "sum")


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("form", ["concat", "difference"])
def test_edge_conv_equals_a_1x1_conv_bn_relu_over_the_built_edge_inputs(form, relu):
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(12, 3, generator=generator, requires_grad=True)
    centres = torch.tensor([0, 4, 7])
    neighbours = torch.randint(0, 12, (3, 5), generator=generator)
    edge_conv = EdgeConv(3, 4, form, relu=relu)
    # the explicit EdgeConv input (1, 2C, Q, K), convolved by the same weight, normalised over Q x K
    neighbour, centre = features[neighbours], features[centres][:, None, :].expand(3, 5, 3)
    first = neighbour - centre if form == "difference" else neighbour
    inputs = torch.cat([first, centre], dim=2).permute(2, 0, 1)[None]
    convolved = torch.nn.functional.conv2d(inputs, edge_conv.weight[:, :, None, None])
    mean, var = convolved.mean(dim=(0, 2, 3), keepdim=True), convolved.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = ((convolved - mean) / torch.sqrt(var + 1e-5))[0].permute(1, 2, 0)  # (Q, K, out)
    expected = torch.relu(expected) if relu else expected
    assert (expected < 0).any() != relu
    out = edge_conv(features, centres, neighbours)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert features.grad is not None and edge_conv.weight.grad is not None

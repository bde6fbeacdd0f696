import pytest
import torch
from torch import nn

from densekd.core.activity import alive_table, alive_units
from densekd.core.errors import UnknownKey


def two_branch_model():
    """Channel 0 passes its input, channel 1 is dead (weight 0, bias -1: ReLU(-1) = 0 everywhere)."""
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, -1.0]))
    return nn.Sequential(conv, nn.ReLU())


def test_alive_shares_and_channels_on_a_hand_made_model():
    model = two_branch_model()
    inputs = [torch.tensor([1.0, -1.0, 2.0, -3.0]).view(1, 1, 2, 2),  # channel 0: 2 of 4 positions > 0
              -torch.ones(1, 1, 2, 2)]  # nothing > 0
    stats = alive_units(model, ["1"], [lambda x=x: model(x) for x in inputs])
    assert stats == {"1": [(2 / 8, 1, 2), (0.0, 0, 2)]}
    assert "| 1 | 0.125 | 0-1 of 2 |" in alive_table(stats)


def test_an_unknown_module_names_the_closest():
    with pytest.raises(UnknownKey, match="no sub-module 'neck' in Sequential"):
        alive_units(two_branch_model(), ["neck"], [])

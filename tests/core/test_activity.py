import warnings

import pytest
import torch
from torch import nn

from conftest import MIMIC_CFG, data_options
from densekd.core.activity import alive_table, alive_units, dead_feature_warning
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


def test_a_nearly_dead_feature_is_named_and_a_half_alive_one_is_not():
    nearly_dead = torch.zeros(1, 2, 10, 10)
    nearly_dead[0, 1, 3, 4] = 0.7  # 1 of 200 outputs: 0.5 %
    message = dead_feature_warning("backbone[1]", nearly_dead)
    assert message.startswith("teacher feature 'backbone[1]' is nearly dead: 0.50% of its outputs")
    assert "\n" not in message
    assert dead_feature_warning("backbone[0]", torch.relu(torch.linspace(-1, 1, 200))) is None  # half above zero
    assert dead_feature_warning("neck", torch.linspace(-2, -1, 200)) is None  # negative, not zero: no ReLU died
    assert dead_feature_warning("neck", (torch.zeros(3),)) is None  # not a tensor: not judged


@pytest.mark.usefixtures("one_torch_thread", "restore_scope")
def test_the_first_training_step_warns_about_a_dead_teacher_feature(teacher_ckpt, shapes_root):
    from densekd import DistillModule
    from densekd.core.config import load_config
    from densekd.core.data import DataModule

    cfg = load_config(MIMIC_CFG, data_options(shapes_root, **{"teacher.checkpoint": teacher_ckpt}))
    module = DistillModule.from_config(cfg)
    assert "neck[0]" in module.distiller.teacher_features
    # the teacher's finest FPN level outputs zeros, as a branch whose ReLUs have all died would
    module.teacher.neck.register_forward_hook(lambda _, __, levels: (torch.zeros_like(levels[0]), *levels[1:]))
    batch = next(iter(DataModule(cfg, splits=("train",)).train_dataloader()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module.training_step(batch, 0)
    dead = [str(w.message) for w in caught if "nearly dead" in str(w.message)]
    assert len(dead) == 1 and dead[0].startswith("teacher feature 'neck[0]' is nearly dead: 0.00%")

"""Mask generation against values worked out by hand."""
import math
import warnings

import pytest
import torch
from torch import nn

from densekd.core.masks import (LearnableSelectionMasks, boxes_to_mask, collapse_warning, mask_statistics,
                                pop_mask_statistics)
from densekd.core.registry import MODELS


def test_boxes_to_mask_square_grid():
    # image 4x4, grid 2x2 -> cell centres at 1 and 3 on both axes
    # box [0, 0, 2, 2] holds centre (1, 1) only; box [2, 0, 4, 4] touches the right/bottom edges
    # and holds the x=3 column (3 in [2, 4)) for both rows (1 and 3 in [0, 4))
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 4.0]])
    expected = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    torch.testing.assert_close(boxes_to_mask(boxes, (4, 4), (2, 2)), expected)


def test_boxes_to_mask_rectangular_and_half_open():
    # image H=4, W=8, grid h=2, w=4 -> x centres 1, 3, 5, 7; y centres 1, 3
    # box [3, 0, 8, 2]: x in [3, 8) -> 3, 5, 7; y in [0, 2) -> 1 only
    # box [0, 0, 3, 4]: x in [0, 3) -> 1 (3 is excluded); y -> both rows
    boxes = torch.tensor([[3.0, 0.0, 8.0, 2.0], [0.0, 0.0, 3.0, 4.0]])
    expected = torch.tensor(
        [[[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]]
    )
    torch.testing.assert_close(boxes_to_mask(boxes, (4, 8), (2, 4)), expected)


def test_boxes_to_mask_no_boxes():
    assert boxes_to_mask(torch.zeros(0, 4), (32, 32), (4, 4)).shape == (0, 4, 4)


def _selection(mode):
    # C=2, M=1, unit [1, -1]
    module = LearnableSelectionMasks(channels=2, num_masks=1, mode=mode)
    with torch.no_grad():
        module.units.copy_(torch.tensor([[1.0, -1.0]]))
    return module


# (N=1, C=2, H=1, W=2): channel 0 = [2, 0], channel 1 = [1, 0]
FEATURES = torch.tensor([[[[2.0, 0.0]], [[1.0, 0.0]]]])


def test_selection_spatial_by_hand():
    # w=0: 1*2 - 1*1 = 1 -> sigmoid(1) = 0.731059; w=1: 0 -> 0.5
    out = _selection("spatial")(FEATURES)
    torch.testing.assert_close(out, torch.tensor([[[[1 / (1 + math.exp(-1)), 0.5]]]]))


def test_selection_channel_by_hand():
    # pooled: channel 0 mean(2, 0) = 1, channel 1 mean(1, 0) = 0.5
    # unit * pooled = [1, -0.5] -> sigmoid = [0.731059, 0.377541]
    out = _selection("channel")(FEATURES)
    expected = torch.tensor([[[1 / (1 + math.exp(-1)), 1 / (1 + math.exp(0.5))]]])
    torch.testing.assert_close(out, expected)


def test_selection_shapes_and_grad():
    module = LearnableSelectionMasks(channels=8, num_masks=3)
    out = module(torch.randn(2, 8, 5, 6))
    assert out.shape == (2, 3, 5, 6)
    out.sum().backward()
    assert module.units.grad.abs().sum() > 0
    assert LearnableSelectionMasks(8, 3, mode="channel")(torch.randn(2, 8, 5, 6)).shape == (2, 3, 8)


def test_selection_errors():
    with pytest.raises(ValueError, match="'pixel'"):
        LearnableSelectionMasks(8, 2, mode="pixel")
    with pytest.raises(ValueError, match=r"channels=4"):
        LearnableSelectionMasks(8, 2)(torch.randn(1, 4, 3, 3))


def test_selection_registry_build():
    module = MODELS.build(dict(type="LearnableSelectionMasks", channels=4, num_masks=2, mode="channel"))
    assert module.units.shape == (2, 4)


# ---------------------------------------------------------------------------------------------
# The mask monitor

# (N=1, M=3, L=4): a flat mask at 0.5, a saturated binary mask, a soft varying one
HAND_MASKS = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.0, 1.0, 0.0, 1.0], [0.2, 0.4, 0.6, 0.8]]])


def test_mask_statistics_by_hand():
    stats = mask_statistics(HAND_MASKS.reshape(1, 3, 2, 2))  # spatial (N, M, H, W): the same values
    # std over positions: 0, 0.5, sqrt(0.05) = 0.2236 -> mean 0.24120; flat: the first; saturated: the second
    torch.testing.assert_close(stats["std"], torch.tensor((0.5 + math.sqrt(0.05)) / 3))
    torch.testing.assert_close(stats["flat_share"], torch.tensor(1 / 3))
    torch.testing.assert_close(stats["saturated_share"], torch.tensor(1 / 3))
    # the binary and the soft mask correlate 0.2 / (1 x sqrt(0.2)) = 0.45: neither duplicates the other
    torch.testing.assert_close(stats["duplicate_share"], torch.tensor(0.0))


def test_duplicate_masks_by_hand():
    # (N=2, M=4, L=4). Image 0: binary; the same pattern softened (r = 1: a duplicate); its complement (r = -1: it
    # selects the other positions, not a duplicate); flat (never a duplicate). Image 1: four copies of one soft map
    # (three duplicates), the last scaled to std 1e-4, which counts as flat, not as a duplicate.
    soft = torch.tensor([0.2, 0.4, 0.6, 0.8])
    masks = torch.stack([
        torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.1, 0.9, 0.1, 0.9], [1.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.5, 0.5]]),
        torch.stack([soft, soft, soft, 0.5 + (soft - 0.5) * 1e-4 / soft.std(unbiased=False)]),
    ])
    stats = mask_statistics(masks)
    torch.testing.assert_close(stats["duplicate_share"], torch.tensor((1 + 2) / 8))
    torch.testing.assert_close(stats["flat_share"], torch.tensor(2 / 8))


def test_the_masks_keep_running_statistics_in_training_only_and_reset_when_read():
    module = _selection("spatial")
    module.eval()
    module(FEATURES)
    assert module.pop_statistics() == {}
    module.train()
    module(FEATURES)  # masks [0.731, 0.5]: std 0.1155
    module(torch.zeros(1, 2, 1, 2))  # flat at 0.5
    stats = pop_mask_statistics(nn.ModuleDict(dict(unit=module)))
    assert list(stats) == ["unit"]
    torch.testing.assert_close(stats["unit"]["std"], torch.tensor((1 / (1 + math.exp(-1)) - 0.5) / 2 / 2))
    torch.testing.assert_close(stats["unit"]["flat_share"], torch.tensor(0.5))
    assert pop_mask_statistics(nn.ModuleDict(dict(unit=module))) == {}


def test_collapse_warning_once_most_masks_are_flat_or_duplicates():
    assert collapse_warning("pairs.0.spatial", dict(flat_share=0.5, std=0.1), 100) is None
    message = collapse_warning("pairs.0.spatial", dict(flat_share=0.9, std=1e-6), 100)
    assert message.startswith("masks 'pairs.0.spatial' have collapsed at step 100: 90% of them are flat")
    assert "\n" not in message
    assert collapse_warning("pairs.0.spatial", dict(flat_share=0.0, duplicate_share=0.5, std=0.4), 100) is None
    message = collapse_warning("pairs.0.spatial", dict(flat_share=0.0, duplicate_share=0.9, std=0.4), 100)
    assert message.startswith("masks 'pairs.0.spatial' have collapsed at step 100: 90% of them duplicate another")
    assert "\n" not in message


def test_training_logs_the_statistics_and_warns_once_per_mask_module(monkeypatch):
    from densekd import DistillModule
    module = DistillModule(student=nn.Linear(2, 2))
    monkeypatch.setattr(DistillModule, "global_step", property(lambda self: 50))  # a check step; step 0 is not
    module.distiller = nn.ModuleDict(dict(spatial=LearnableSelectionMasks(2, 4)))
    logged = {}
    monkeypatch.setattr(module, "log", lambda name, value, **kwargs: logged.__setitem__(name, value))
    warned = []
    for _ in range(2):
        module.distiller["spatial"](torch.zeros(1, 2, 3, 3))  # every mask flat at 0.5
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module._monitor_masks(batch_size=1)
        warned.append([str(w.message) for w in caught])
    assert len(warned[0]) == 1 and warned[1] == []  # once, not at every check
    assert warned[0][0].startswith("masks 'spatial' have collapsed at step 50: 100% of them are flat")
    assert sorted(logged) == [f"train/masks/spatial/{k}" for k in ("duplicate_share", "flat_share",
                                                                           "saturated_share", "std")]
    assert float(logged["train/masks/spatial/flat_share"]) == 1.0

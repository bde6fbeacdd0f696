"""Distillation losses against values worked out by hand."""
import math

import pytest
import torch

from densekd.core.losses import (
    AsymmetricLoss,
    DiceDiversityLoss,
    FeatureL1Loss,
    FeatureMSELoss,
    GramRelationLoss,
    TemperatureKLLoss,
    asymmetric_loss,
    dice_diversity_loss,
    kl_div_loss,
    l1_loss,
    mse_loss,
    relation_loss,
    warmup_factor,
)
from densekd.core.registry import MODELS

# (N=1, C=2, H=1, W=2): channel 0 = [1, 2], channel 1 = [3, 4]
PRED = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
# channel 0 = [0, 2], channel 1 = [1, 1]  -> differences: ch0 [1, 0], ch1 [2, 3]
TARGET = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])


def test_mse_plain():
    # squared diffs 1, 0, 4, 9 -> 14 / 4
    assert mse_loss(PRED, TARGET).item() == pytest.approx(3.5)


def test_l1_plain():
    # abs diffs 1, 0, 2, 3 -> 6 / 4
    assert l1_loss(PRED, TARGET).item() == pytest.approx(1.5)


def test_mse_masked_broadcasts_over_channels():
    # mask (1, 1, 1, 2) keeps w=1 in both channels: squared diffs 0 and 9 -> 9 / 2
    mask = torch.tensor([[[[0.0, 1.0]]]])
    assert mse_loss(PRED, TARGET, mask).item() == pytest.approx(4.5)


def test_l1_masked_fractional_weights():
    # weights 0.5 at w=0, 1 at w=1, over both channels:
    # (0.5*1 + 0.5*2 + 1*0 + 1*3) / (0.5 + 0.5 + 1 + 1) = 4.5 / 3
    mask = torch.tensor([[[[0.5, 1.0]]]])
    assert l1_loss(PRED, TARGET, mask).item() == pytest.approx(1.5)
    # squared: (0.5*1 + 0.5*4 + 1*0 + 1*9) / 3 = 11.5 / 3
    assert mse_loss(PRED, TARGET, mask).item() == pytest.approx(11.5 / 3)


@pytest.mark.parametrize("loss_fn", [mse_loss, l1_loss])
def test_all_ones_mask_equals_plain(loss_fn):
    pred, target = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    ones = torch.ones(2, 1, 4, 5)
    torch.testing.assert_close(loss_fn(pred, target, ones), loss_fn(pred, target))


@pytest.mark.parametrize("loss_fn", [mse_loss, l1_loss])
def test_zero_mask_gives_zero_with_grad(loss_fn):
    pred = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = loss_fn(pred, torch.randn(2, 3, 4, 4), torch.zeros(2, 1, 4, 4))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_mse_gradient():
    # d/dpred mean((pred - target)^2) = 2 * diff / 4 = [0.5, 0, 1, 1.5]
    pred = PRED.clone().requires_grad_(True)
    mse_loss(pred, TARGET).backward()
    expected = torch.tensor([[[[0.5, 0.0]], [[1.0, 1.5]]]])
    torch.testing.assert_close(pred.grad, expected)


def test_shape_mismatch_names_adapter():
    with pytest.raises(ValueError, match="adapter"):
        mse_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))


def test_bad_mask_shape_raises():
    with pytest.raises(ValueError, match="broadcast"):
        mse_loss(PRED, TARGET, torch.ones(1, 3, 1, 2))


def test_kl_vector_logits():
    # teacher [0, 0] -> p_t = [1/2, 1/2]; student [0, ln 3] -> p_s = [1/4, 3/4]
    # KL = 1/2 ln(2) + 1/2 ln(2/3) = 1/2 ln(4/3)
    student = torch.tensor([[0.0, math.log(3.0)]])
    teacher = torch.tensor([[0.0, 0.0]])
    assert kl_div_loss(student, teacher).item() == pytest.approx(0.5 * math.log(4 / 3))


def test_kl_temperature_scales_by_t_squared():
    # T=2: student [0, 2 ln 3] / 2 = [0, ln 3] -> same KL as above, times T^2 = 4
    student = torch.tensor([[0.0, 2 * math.log(3.0)]])
    teacher = torch.tensor([[0.0, 0.0]])
    assert kl_div_loss(student, teacher, temperature=2.0).item() == pytest.approx(2 * math.log(4 / 3))


def test_kl_dense_logits_average_over_positions():
    # (N=1, C=2, H=1, W=2): position 0 as in test_kl_vector_logits, position 1 equal logits (KL 0)
    # mean over the two positions = 1/4 ln(4/3)
    student = torch.tensor([[[[0.0, 5.0]], [[math.log(3.0), 1.0]]]])
    teacher = torch.tensor([[[[0.0, 5.0]], [[0.0, 1.0]]]])
    assert kl_div_loss(student, teacher).item() == pytest.approx(0.25 * math.log(4 / 3))


def test_kl_gradient_reaches_student():
    student = torch.randn(3, 5, requires_grad=True)
    kl_div_loss(student, torch.randn(3, 5), temperature=2.0).backward()
    assert student.grad.abs().sum() > 0


def test_relation_loss_by_hand():
    # G_s = I; teacher rows [1,1,0], [0,1,0] -> G_t = [[2,1],[1,1]]
    # G_s - G_t = [[-1,-1],[-1,0]] -> squares sum to 3 -> mean 3/4 (Ds=2 and Dt=3 may differ)
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert relation_loss(student, teacher).item() == pytest.approx(0.75)


def test_relation_loss_needs_same_batch():
    with pytest.raises(ValueError, match="same N"):
        relation_loss(torch.zeros(2, 4), torch.zeros(3, 4))


def test_asymmetric_loss_defaults():
    # logits 0 -> p = 0.5
    # positive class (gamma_pos 0): -ln 0.5 = 0.693147
    # negative class: p_m = 0.5 - 0.05 = 0.45; 0.45^4 = 0.04100625; -ln(1 - 0.45) = 0.597837
    #   -> 0.04100625 * 0.597837 = 0.024515
    # mean over all N x K = 4 elements (OADP's reduction): (2 * 0.693147 + 2 * 0.024515) / 4 = 0.358831
    logits = torch.zeros(2, 2)
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = (math.log(2) + 0.45**4 * -math.log(0.55)) / 2
    assert asymmetric_loss(logits, targets).item() == pytest.approx(expected, rel=1e-5)


def test_asymmetric_focusing_weight_carries_no_gradient():
    # one negative at logit 0: loss = -w * ln(1 - (p - 0.05)) with w = 0.45^4 held constant, so
    # d loss / d z = w * p (1 - p) / (1 - 0.45) = 0.45^4 * 0.25 / 0.55 = 0.0186392
    # (were w differentiated too, 4 * 0.45^3 * 0.25 * 0.597837 would be added: 0.054482 more)
    logits = torch.zeros(1, 1, requires_grad=True)
    asymmetric_loss(logits, torch.zeros(1, 1)).backward()
    assert logits.grad.item() == pytest.approx(0.45**4 * 0.25 / 0.55, rel=1e-5)
    # a positive at logit 0 with gamma_pos 1: loss = -(1 - p) ln p, weight (1 - p) = 0.5 held
    # constant -> gradient -0.5 * (1 - p) = -0.25
    logits = torch.zeros(1, 1, requires_grad=True)
    asymmetric_loss(logits, torch.ones(1, 1), gamma_pos=1.0).backward()
    assert logits.grad.item() == pytest.approx(-0.25, rel=1e-5)


def test_asymmetric_loss_reduces_to_bce_and_clamps_log():
    # no focusing, no clip: negative at logit 0 -> -ln(1 - 0.5) = ln 2
    no_focus = dict(gamma_neg=0.0, gamma_pos=0.0, clip=0.0)
    loss = asymmetric_loss(torch.zeros(1, 1), torch.zeros(1, 1), **no_focus)
    assert loss.item() == pytest.approx(math.log(2))
    # positive at logit -100: p ~ 4e-44 < eps = 1e-8 -> -ln(1e-8) = 8 ln 10 = 18.420681
    loss = asymmetric_loss(torch.full((1, 1), -100.0), torch.ones(1, 1), **no_focus)
    assert loss.item() == pytest.approx(8 * math.log(10), rel=1e-5)


def test_dice_diversity_two_masks():
    # M1 = [1, 0], M2 = [1, 1]: sum M1*M2 = 1, sum M1^2 = 1, sum M2^2 = 2 -> 2*1/3 for both pairs
    masks = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    assert dice_diversity_loss(masks).item() == pytest.approx(2 / 3, rel=1e-5)


def test_dice_diversity_three_masks_spatial():
    # (N=1, M=3, H=1, W=2): M1 = [1, 0], M2 = [1, 1], M3 = [0, 1]
    # (1,2) = 2/3, (1,3) = 0, (2,3) = 2*1/(2+1) = 2/3; each twice over 6 ordered pairs -> 4/9
    masks = torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]]])
    assert dice_diversity_loss(masks).item() == pytest.approx(4 / 9, rel=1e-5)


def test_dice_diversity_averages_over_samples_and_has_grad():
    # sample 1 as in test_dice_diversity_two_masks (2/3), sample 2 disjoint masks (0) -> 1/3
    masks = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    loss = dice_diversity_loss(masks)
    assert loss.item() == pytest.approx(1 / 3, rel=1e-5)
    loss.backward()
    assert masks.grad.abs().sum() > 0


def test_warmup_factor():
    assert warmup_factor(0, 10) == 0.0
    assert warmup_factor(5, 10) == 0.5
    assert warmup_factor(20, 10) == 1.0
    assert warmup_factor(3, 0) == 1.0


def test_modules_match_functions():
    assert FeatureMSELoss()(PRED, TARGET).item() == pytest.approx(3.5)
    assert FeatureL1Loss()(PRED, TARGET).item() == pytest.approx(1.5)
    student, teacher = torch.tensor([[0.0, math.log(3.0)]]), torch.zeros(1, 2)
    assert TemperatureKLLoss()(student, teacher).item() == pytest.approx(0.5 * math.log(4 / 3))
    assert GramRelationLoss()(torch.eye(2), torch.tensor([[1.0, 1.0], [0.0, 1.0]])).item() == (
        pytest.approx(0.75)
    )
    assert AsymmetricLoss(gamma_neg=0.0, clip=0.0)(torch.zeros(1, 1), torch.zeros(1, 1)).item() == (
        pytest.approx(math.log(2))
    )
    assert DiceDiversityLoss()(torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])).item() == (
        pytest.approx(2 / 3, rel=1e-5)
    )


def test_registry_build():
    loss = MODELS.build(dict(type="FeatureMSELoss"))
    assert isinstance(loss, FeatureMSELoss)
    kl = MODELS.build(dict(type="TemperatureKLLoss", temperature=4.0))
    assert kl.temperature == 4.0

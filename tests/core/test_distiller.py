import pytest
import torch

from densekd.core.distiller import FeatureMimicDistiller


def mimic(**kwargs):
    return FeatureMimicDistiller(["s"], ["t"], **kwargs)


def test_mse_mimic_with_identity_widths_by_hand():
    distiller = mimic(loss_weight=2.0)
    student = {"s": torch.zeros(1, 1, 1, 2)}
    teacher = {"t": torch.tensor([[[[1.0, 3.0]]]])}
    distiller.materialize(student, teacher)
    # mean((0-1)^2, (0-3)^2) = 5, times the weight 2 -> 10
    assert distiller(student, teacher)["loss_mimic"].item() == pytest.approx(10.0)


def test_warmup_ramps_the_weight_linearly():
    distiller = mimic(warmup_iters=10)
    feats = {"s": torch.zeros(1, 1, 1, 1)}, {"t": torch.ones(1, 1, 1, 1)}
    distiller.materialize(*feats)
    assert distiller(*feats, step=0)["loss_mimic"].item() == 0.0
    assert distiller(*feats, step=5)["loss_mimic"].item() == pytest.approx(0.5)
    assert distiller(*feats, step=50)["loss_mimic"].item() == pytest.approx(1.0)


def test_adapter_takes_student_width_to_teacher_width():
    distiller = mimic(adapter=dict(type="ConvAdapter", norm=False))
    student, teacher = {"s": torch.randn(2, 4, 3, 3)}, {"t": torch.randn(2, 8, 3, 3)}
    distiller.materialize(student, teacher)
    assert distiller.adapters[0].conv.weight.shape == (8, 4, 1, 1)
    distiller(student, teacher)["loss_mimic"].backward()
    assert distiller.adapters[0].conv.weight.grad is not None


def test_normalized_mimic_ignores_the_teacher_scale():
    distiller = mimic(normalize=True)
    student, teacher = {"s": torch.randn(2, 3, 4, 4)}, torch.randn(2, 3, 4, 4)
    distiller.materialize(student, {"t": teacher})
    small = distiller(student, {"t": teacher})["loss_mimic"]
    large = distiller(student, {"t": 30 * teacher + 7})["loss_mimic"]
    assert small.item() == pytest.approx(large.item(), rel=1e-4)


def test_unpaired_feature_lists_are_rejected():
    with pytest.raises(ValueError, match="2 student and 1 teacher"):
        FeatureMimicDistiller(["a", "b"], ["c"])


def test_warmup_for_unknown_loss_is_rejected():
    with pytest.raises(KeyError, match="loss_typo"):
        FeatureMimicDistiller(["a"], ["b"], warmup_iters=dict(loss_typo=5))

"""ACAM-KD (densekd.seg.acam): STCA-FF against a plain attention written out here, the masks, the
Dice diversity and masked losses against values worked out by hand, the config switches, FPN
levels, gradients and the registry."""
import math

import pytest
import torch

import densekd  # noqa: F401  (registration)
from densekd.core.adapters import whiten_over_positions
from densekd.core.errors import InvalidValue
from densekd.core.losses import dice_diversity_loss
from densekd.core.masks import mask_statistics
from densekd.core.registry import build, use_scope
from densekd.seg.acam import ACAMDistiller, StudentTeacherCrossAttention, masked_feature_loss


def conv1x1(x, conv):
    """A 1x1 conv by hand: (N, C, H, W) -> (N, O, H, W) with the module's weight and bias."""
    return torch.einsum("oc,nchw->nohw", conv.weight[:, :, 0, 0], x) + conv.bias[None, :, None, None]


def avg_pool_by_hand(x, k):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(dim=(3, 5))


def plain_attention(module, teacher, student, query, kv_pool=1):
    """softmax(Q K^T / sqrt(C_qk)) V with an explicit (HW x HW') matrix, softmax over the keys."""
    queries, keys = (teacher, student) if query == "teacher" else (student, teacher)
    if kv_pool > 1:
        keys = avg_pool_by_hand(keys, kv_pool)
    n, c, h, w = queries.shape
    q = conv1x1(queries, module.q_proj).flatten(2)  # (N, C_qk, HW)
    k = conv1x1(keys, module.k_proj).flatten(2)  # (N, C_qk, HW')
    v = conv1x1(keys, module.v_proj).flatten(2)  # (N, C, HW')
    scores = q.transpose(1, 2) @ k / math.sqrt(q.shape[1])  # (N, HW, HW')
    attn = torch.softmax(scores, dim=-1)  # over the key positions
    return (v @ attn.transpose(1, 2)).reshape(n, c, h, w)  # out[:, :, p] = sum_j attn[p, j] v[:, j]


# ---------------------------------------------------------------------------------------------
# STCA-FF


@pytest.mark.parametrize("channels, qk_channels", [(19, 9), (8, 4)])
def test_stca_equals_plain_attention_for_both_query_sides(channels, qk_channels):
    torch.manual_seed(0)
    teacher, student = torch.randn(2, channels, 5, 6), torch.randn(2, channels, 5, 6)
    outputs = {}
    fuse_t = StudentTeacherCrossAttention(channels, query="teacher")
    fuse_s = StudentTeacherCrossAttention(channels, query="student")
    fuse_s.load_state_dict(fuse_t.state_dict())  # same projections: only the side differs
    for query, module in (("teacher", fuse_t), ("student", fuse_s)):
        assert module.q_proj.out_channels == qk_channels and module.v_proj.out_channels == channels
        out = module(teacher, student)
        assert out.shape == (2, channels, 5, 6)
        torch.testing.assert_close(out, plain_attention(module, teacher, student, query), atol=1e-5, rtol=1e-4)
        outputs[query] = out
    assert (outputs["teacher"] - outputs["student"]).abs().max() > 1e-2


def test_stca_kv_pool_is_attention_on_pooled_keys_and_values():
    torch.manual_seed(1)
    teacher, student = torch.randn(2, 8, 6, 8), torch.randn(2, 8, 6, 8)
    module = StudentTeacherCrossAttention(8, query="teacher", kv_pool=2)
    out = module(teacher, student)
    assert out.shape == (2, 8, 6, 8)  # queries keep every position
    torch.testing.assert_close(out, plain_attention(module, teacher, student, "teacher", kv_pool=2),
                               atol=1e-5, rtol=1e-4)
    unpooled = plain_attention(module, teacher, student, "teacher")
    assert (out - unpooled).abs().max() > 1e-3  # pooling changes the result


def test_stca_errors():
    with pytest.raises(ValueError, match="query"):
        StudentTeacherCrossAttention(8, query="both")
    with pytest.raises(ValueError, match="kv_pool"):
        StudentTeacherCrossAttention(8, kv_pool=0)
    with pytest.raises(ValueError, match="must match"):
        StudentTeacherCrossAttention(8)(torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 5))


# ---------------------------------------------------------------------------------------------
# Dice diversity and the masked loss, by hand


def test_dice_diversity_disjoint_identical_partial():
    disjoint = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]])
    identical = torch.tensor([[[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]]])
    torch.testing.assert_close(dice_diversity_loss(disjoint), torch.tensor(0.0))
    torch.testing.assert_close(dice_diversity_loss(identical), torch.tensor(1.0))
    # a = [1, 1, 0, 0], b = [0, 1, 1, 0]: overlap 1, energies 2 and 2 -> 2 * 1 / 4 = 0.5
    partial = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]])
    torch.testing.assert_close(dice_diversity_loss(partial), torch.tensor(0.5))
    # soft: a = [1, 0.5], b = [0.5, 1]: overlap 0.5 + 0.5 = 1, energies 1.25 each -> 2 / 2.5 = 0.8
    soft = torch.tensor([[[1.0, 0.5], [0.5, 1.0]]])
    torch.testing.assert_close(dice_diversity_loss(soft), torch.tensor(0.8))


def test_dice_diversity_three_masks_spatial_and_batch():
    # (N=1, M=3, H=2, W=2): a = [1, 1, 0, 0], b = [0, 1, 1, 0], c = [0, 0, 0, 1]
    # dice(a, b) = 0.5, dice(a, c) = dice(b, c) = 0 -> mean over the 6 ordered pairs = 1 / 6
    masks = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]).reshape(1, 3, 2, 2)
    torch.testing.assert_close(dice_diversity_loss(masks), torch.tensor(1 / 6))
    # a second image with identical masks (dice 1 everywhere) -> mean (1/6 + 1) / 2
    batch = torch.cat([masks, torch.ones(1, 3, 2, 2)])
    torch.testing.assert_close(dice_diversity_loss(batch), torch.tensor((1 / 6 + 1) / 2))


# D^2 (N=2, C=2, H=1, W=2): image 0 channel 0 = [1, 4], channel 1 = [9, 16]; image 1 all zero
DIFF_SQ = torch.tensor([[[[1.0, 4.0]], [[9.0, 16.0]]], [[[0.0, 0.0]], [[0.0, 0.0]]]])


def test_masked_feature_loss_spatial_by_hand():
    # masks (N, M=2, H=1, W=2): m0 = [1, 0], m1 = [0.5, 0.5] (same for both images)
    masks = torch.tensor([[[[1.0, 0.0]], [[0.5, 0.5]]]]).expand(2, 2, 1, 2)
    # image 0: m0: 1 * (1 + 9) / (C=2 * 1) = 5; m1: (0.5 * (1 + 9) + 0.5 * (4 + 16)) / (2 * 1) = 7.5
    # image 1: 0 and 0 -> mean over (2 images x 2 masks) = (5 + 7.5) / 4 = 3.125
    torch.testing.assert_close(masked_feature_loss(DIFF_SQ, masks, "spatial"), torch.tensor(3.125))


def test_masked_feature_loss_channel_by_hand():
    # masks (N, M=2, C=2): m0 = [1, 0], m1 = [0.5, 1]; per-channel sums of D^2 (image 0): 5 and 25
    masks = torch.tensor([[[1.0, 0.0], [0.5, 1.0]]]).expand(2, 2, 2)
    # image 0: m0: 1 * 5 / (HW=2 * 1) = 2.5; m1: (0.5 * 5 + 1 * 25) / (2 * 1.5) = 27.5 / 3
    # image 1: 0 and 0 -> mean = (2.5 + 27.5 / 3) / 4
    expected = torch.tensor((2.5 + 27.5 / 3) / 4)
    torch.testing.assert_close(masked_feature_loss(DIFF_SQ, masks, "channel"), expected)


def test_masked_feature_loss_bad_mode():
    with pytest.raises(ValueError, match="'pixel'"):
        masked_feature_loss(DIFF_SQ, torch.ones(2, 1, 2), "pixel")


# ---------------------------------------------------------------------------------------------
# The distiller


def features(seed=0, n=2, cs=6, ct=8, h=5, w=7):
    generator = torch.Generator().manual_seed(seed)
    return {"s": torch.randn(n, cs, h, w, generator=generator)}, {"t": torch.randn(n, ct, h, w, generator=generator)}


def make(seed=0, feats=None, **kwargs):
    """An ACAMDistiller on ('s' -> 't'), materialized with parameters drawn from ``seed``."""
    distiller = ACAMDistiller(["s"], ["t"], **kwargs)
    torch.manual_seed(seed)
    distiller.materialize(*(feats or features()))
    return distiller


def masks_of(distiller, student, teacher):
    pair = distiller.pairs[0]
    aligned = distiller.align(pair, student, teacher)
    return distiller.level_masks(pair, teacher, aligned)


def test_masks_are_soft_with_the_right_shapes():
    student, teacher = features()
    distiller = make(num_masks=4)
    masks = masks_of(distiller, student["s"], teacher["t"])
    assert set(masks) == {"spatial", "channel"}
    assert masks["spatial"].shape == (2, 4, 5, 7) and masks["channel"].shape == (2, 4, 8)
    for mask in masks.values():
        assert mask.min() > 0 and mask.max() < 1


def test_student_map_of_another_size_is_resized_to_the_teacher():
    student = {"s": torch.randn(2, 6, 3, 4)}
    teacher = {"t": torch.randn(2, 8, 6, 8)}
    distiller = make(feats=(student, teacher), num_masks=3)
    assert distiller.align(distiller.pairs[0], student["s"], teacher["t"]).shape == (2, 8, 6, 8)
    assert masks_of(distiller, student["s"], teacher["t"])["spatial"].shape == (2, 3, 6, 8)
    losses = distiller(student, teacher)
    assert all(torch.isfinite(v) for v in losses.values())


def test_num_masks_changes_mask_shapes_and_loss():
    student, teacher = features()
    three, five = make(num_masks=3), make(num_masks=5)
    assert masks_of(three, student["s"], teacher["t"])["spatial"].shape[1] == 3
    assert masks_of(five, student["s"], teacher["t"])["spatial"].shape[1] == 5
    assert masks_of(five, student["s"], teacher["t"])["channel"].shape == (2, 5, 8)
    loss3, loss5 = three(student, teacher), five(student, teacher)
    assert not torch.isclose(loss3["loss_acam_spatial"], loss5["loss_acam_spatial"])
    assert not torch.isclose(loss3["loss_acam_div"], loss5["loss_acam_div"])


def test_query_side_changes_fused_features_and_loss():
    student, teacher = features()
    by_teacher, by_student = make(query="teacher", num_masks=4), make(query="student", num_masks=4)
    by_student.load_state_dict(by_teacher.state_dict())  # same parameters: only the side differs
    pair_t, pair_s = by_teacher.pairs[0], by_student.pairs[0]
    aligned = by_teacher.align(pair_t, student["s"], teacher["t"])
    fused_t, fused_s = pair_t["fuse"](teacher["t"], aligned), pair_s["fuse"](teacher["t"], aligned)
    assert (fused_t - fused_s).abs().max() > 1e-3
    loss_t, loss_s = by_teacher(student, teacher), by_student(student, teacher)
    assert not torch.isclose(loss_t["loss_acam_spatial"], loss_s["loss_acam_spatial"])


def test_alpha_scales_the_masked_losses_not_the_diversity():
    student, teacher = features()
    one, three = make(alpha=1.0, lambda_div=0.5), make(alpha=3.0, lambda_div=0.5)
    three.load_state_dict(one.state_dict())
    out1, out3 = one(student, teacher), three(student, teacher)
    assert set(out1) == {"loss_acam_spatial", "loss_acam_channel", "loss_acam_div"}
    for name in ("loss_acam_spatial", "loss_acam_channel"):
        torch.testing.assert_close(out3[name], 3 * out1[name])
    torch.testing.assert_close(out3["loss_acam_div"], out1["loss_acam_div"])
    raw = one.compute_losses(student, teacher, None)
    torch.testing.assert_close(out1["loss_acam_div"], 0.5 * raw["loss_acam_div"])


def test_spatial_masks_only():
    student, teacher = features()
    both, spatial = make(num_masks=4), make(num_masks=4, masks=("spatial",))
    spatial.load_state_dict(both.state_dict(), strict=False)  # no channel units on this one
    assert "channel" not in spatial.pairs[0]
    out_both, out_spatial = both(student, teacher), spatial(student, teacher)
    assert set(out_spatial) == {"loss_acam_spatial", "loss_acam_div"}
    torch.testing.assert_close(out_spatial["loss_acam_spatial"], out_both["loss_acam_spatial"])
    # the diversity is the spatial masks' alone; the total loses the channel loss and its diversity
    channel_masks = masks_of(both, student["s"], teacher["t"])["channel"]
    torch.testing.assert_close(out_both["loss_acam_div"] - out_spatial["loss_acam_div"],
                               dice_diversity_loss(channel_masks))
    total_both, total_spatial = sum(out_both.values()), sum(out_spatial.values())
    assert total_spatial < total_both - 1e-3
    with pytest.raises(ValueError, match="subset"):
        ACAMDistiller(["s"], ["t"], masks=("pixel",))


def test_detach_masks_leaves_the_units_to_the_diversity_loss():
    student, teacher = features()
    grads = {}
    for detach in (False, True):
        distiller = make(num_masks=4, detach_masks=detach)
        units = distiller.pairs[0]["spatial"].units
        losses = distiller.compute_losses(student, teacher, None)
        losses["loss_acam_spatial"].backward(retain_graph=True)
        grads[detach] = None if units.grad is None else units.grad.clone()
        units.grad = None
        losses["loss_acam_div"].backward()
        assert units.grad is not None and units.grad.abs().sum() > 0  # L_div always trains them
    assert grads[False] is not None and grads[False].abs().sum() > 0
    assert grads[True] is None or grads[True].abs().sum() == 0


def test_fpn_levels_share_one_module_and_average():
    torch.manual_seed(3)
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    student = {"s": tuple(torch.randn(2, 4, h, w) for h, w in sizes)}
    teacher = {"t": tuple(torch.randn(2, 8, h, w) for h, w in sizes)}
    distiller = make(feats=(student, teacher), num_masks=3)
    assert len(distiller.pairs) == 1  # one align / fuse / mask set for the five levels
    pair = distiller.pairs[0]
    out = distiller.compute_losses(student, teacher, None)
    per_level = {name: [] for name in out}
    for s, t in zip(student["s"], teacher["t"]):
        fused = pair["fuse"](t, pair["align"](s))
        # spatial masks from the fused map standardised per image and channel over positions; channel masks from
        # the raw map's channel means
        mean, var = fused.mean(dim=(2, 3), keepdim=True), fused.var(dim=(2, 3), unbiased=False, keepdim=True)
        spatial = pair["spatial"]((fused - mean) / (var + 1e-5).sqrt())  # (N, M, H, W)
        channel = pair["channel"](fused)  # (N, M, C)
        d2 = (t - pair["align"](s)) ** 2
        # sum(M_p D^2) / (C sum_p M_p) and sum(M_c D^2) / (HW sum_c M_c), mean over images and masks
        num_s = (spatial[:, :, None] * d2[:, None]).sum(dim=(2, 3, 4))
        per_level["loss_acam_spatial"].append((num_s / (t.shape[1] * spatial.sum(dim=(2, 3)))).mean())
        num_c = (channel[..., None, None] * d2[:, None]).sum(dim=(2, 3, 4))
        per_level["loss_acam_channel"].append((num_c / (t.shape[2] * t.shape[3] * channel.sum(-1))).mean())
        per_level["loss_acam_div"].append(dice_diversity_loss(spatial) + dice_diversity_loss(channel))
        # one level given alone goes through the same modules
        alone = distiller.compute_losses({"s": s}, {"t": t}, None)
        torch.testing.assert_close(alone["loss_acam_spatial"], per_level["loss_acam_spatial"][-1])
    for name, values in per_level.items():
        torch.testing.assert_close(out[name], torch.stack(values).mean())


def test_fpn_levels_of_different_widths_are_refused():
    student = {"s": (torch.randn(1, 4, 4, 4), torch.randn(1, 4, 2, 2))}
    teacher = {"t": (torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2))}
    with pytest.raises(ValueError, match="different widths"):
        make(feats=(student, teacher))


def test_gradients_reach_student_and_mask_units():
    student, teacher = features()
    student["s"].requires_grad_(True)
    distiller = make(num_masks=4)
    sum(distiller(student, teacher).values()).backward()
    pair = distiller.pairs[0]
    assert student["s"].grad is not None and student["s"].grad.abs().sum() > 0
    for part in (pair["spatial"].units, pair["channel"].units, pair["fuse"].q_proj.weight,
                 pair["fuse"].k_proj.weight, pair["align"].conv.weight):
        assert part.grad is not None and part.grad.abs().sum() > 0


@pytest.mark.parametrize("scope", ["mmseg", "mmdet"])
def test_built_from_the_registry(scope, restore_scope):
    use_scope(scope)
    distiller = build(dict(type="ACAMDistiller", student_features=["decode_head.conv_seg"],
                           teacher_features=["decode_head.conv_seg"], num_masks=19))
    assert isinstance(distiller, ACAMDistiller) and distiller.num_masks == 19
    logits = {"decode_head.conv_seg": torch.randn(1, 19, 8, 8)}
    distiller.materialize(logits, logits)
    assert distiller.pairs[0]["fuse"].q_proj.out_channels == 9
    assert set(distiller(logits, {"decode_head.conv_seg": torch.randn(1, 19, 8, 8)})) == {
        "loss_acam_spatial", "loss_acam_channel", "loss_acam_div"}


def test_residual_switch_adds_the_query_map():
    torch.manual_seed(0)
    teacher, student = torch.randn(2, 19, 4, 6), torch.randn(2, 19, 4, 6)
    for query, query_map in (("teacher", teacher), ("student", student)):
        plain = StudentTeacherCrossAttention(19, query=query)
        residual = StudentTeacherCrossAttention(19, query=query, residual=True)
        residual.load_state_dict(plain.state_dict())
        torch.testing.assert_close(residual(teacher, student), plain(teacher, student) + query_map)


# ---------------------------------------------------------------------------------------------
# Mask collapse: the published form against the standardised fused map (densekd's default)


def spatial_masks_after_training(steps=150, num_masks=4, **options):
    """Distil a 3x3-conv student towards smooth teacher maps with ACAM-KD alone (Adam, everything trained, as
    the paper trains it); return the spatial masks at the end (N, M, H, W) and the squared error between the
    teacher and the aligned student."""
    generator = torch.Generator().manual_seed(0)
    teacher = torch.nn.functional.avg_pool2d(torch.randn(2, 8, 16, 16, generator=generator), 3, 1, 1) * 3
    inputs = torch.randn(2, 4, 16, 16, generator=generator)
    torch.manual_seed(0)
    student = torch.nn.Conv2d(4, 6, 3, padding=1)
    distiller = ACAMDistiller(["s"], ["t"], num_masks=num_masks, **options)
    distiller.materialize({"s": student(inputs)}, {"t": teacher})
    optimizer = torch.optim.Adam([*student.parameters(), *distiller.parameters()], lr=1e-2)
    for _ in range(steps):
        loss = sum(distiller({"s": student(inputs)}, {"t": teacher}).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pair = distiller.pairs[0]
        aligned = distiller.align(pair, student(inputs), teacher)
        return distiller.level_masks(pair, teacher, aligned)["spatial"], (teacher - aligned).pow(2).mean()


def test_the_published_form_collapses_where_the_standardised_fused_map_keeps_masks_varying():
    literal_masks, literal_error = spatial_masks_after_training(standardize_fused=False)
    masks, error = spatial_masks_after_training(standardize_fused=True)
    assert literal_masks.flatten(2).std(-1).max() < 1e-4  # every mask constant over the image: it selects nothing
    assert masks.flatten(2).std(-1).min() > 0.3  # every mask of every image still varies over it
    assert abs(error - literal_error) < 0.05 * literal_error  # at the same distillation error


def test_whitening_the_fused_map_keeps_masks_apart_where_standardising_makes_repeats():
    standardised, standardised_error = spatial_masks_after_training(num_masks=8)
    whitened, whitened_error = spatial_masks_after_training(num_masks=8, whiten_fused=True)
    repeats = mask_statistics(standardised)["duplicate_share"]
    assert repeats >= 0.5  # the standardised map has too few directions: most masks repeat another
    statistics = mask_statistics(whitened)
    assert statistics["duplicate_share"] == 0 and statistics["flat_share"] == 0
    assert whitened.flatten(2).std(-1).min() > 0.2
    assert abs(whitened_error - standardised_error) < 0.05 * standardised_error


def test_whitening_needs_the_standardised_form():
    with pytest.raises(InvalidValue, match="whiten_fused=True .* standardize_fused=True"):
        ACAMDistiller(["s"], ["t"], standardize_fused=False, whiten_fused=True)


def test_spatial_masks_read_the_normalised_fused_map_and_channel_masks_the_raw_one():
    student, teacher = features()
    for standardize, whiten in ((True, False), (False, False), (True, True)):
        distiller = make(num_masks=3, standardize_fused=standardize, whiten_fused=whiten)
        pair = distiller.pairs[0]
        aligned = distiller.align(pair, student["s"], teacher["t"])
        fused = pair["fuse"](teacher["t"], aligned)
        mean, var = fused.mean(dim=(2, 3), keepdim=True), fused.var(dim=(2, 3), unbiased=False, keepdim=True)
        spatial_input = (fused - mean) / (var + 1e-5).sqrt() if standardize else fused
        if whiten:
            spatial_input = whiten_over_positions(fused)
        masks = distiller.level_masks(pair, teacher["t"], aligned)
        torch.testing.assert_close(masks["spatial"], torch.sigmoid(
            torch.einsum("mc,nchw->nmhw", pair["spatial"].units, spatial_input)))
        torch.testing.assert_close(masks["channel"], torch.sigmoid(
            pair["channel"].units[None] * fused.mean(dim=(2, 3))[:, None]))


def test_segmentation_configs_whiten_and_detach_their_masks_and_fpn_configs_standardise():
    from mmengine.config import Config
    seg = build(Config.fromfile("configs/demo/deeplabv3_acam_streets.py").distiller.to_dict())
    fpn = build(Config.fromfile("configs/_base_/distill/acam_fpn.py").distiller.to_dict())
    assert (seg.standardize_fused, seg.whiten_fused, seg.detach_masks) == (True, True, True)
    assert (fpn.standardize_fused, fpn.whiten_fused, fpn.detach_masks) == (True, False, False)

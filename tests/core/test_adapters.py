"""Student -> teacher adapters: width inference, shapes, autocast."""
import pytest
import torch

from densekd.core.adapters import ConvAdapter, LinearAdapter, standardize_over_positions, whiten_over_positions
from densekd.core.losses import mse_loss
from densekd.core.registry import MODELS

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_conv_adapter_infers_width_and_keeps_size(kernel_size):
    adapter = ConvAdapter(out_channels=8, kernel_size=kernel_size)
    out = adapter(torch.randn(2, 3, 5, 7))
    assert out.shape == (2, 8, 5, 7)
    assert adapter.conv.weight.shape == (8, 3, kernel_size, kernel_size)


def test_conv_adapter_explicit_width_no_norm():
    adapter = ConvAdapter(out_channels=4, in_channels=2, norm=False)
    # a 1x1 conv with weight 1 everywhere and bias 0 sums the channels: 1 + 2 = 3 everywhere
    with torch.no_grad():
        adapter.conv.weight.fill_(1.0)
        adapter.conv.bias.zero_()
    x = torch.stack([torch.ones(3, 3), 2 * torch.ones(3, 3)])[None]
    torch.testing.assert_close(adapter(x), torch.full((1, 4, 3, 3), 3.0))


def test_conv_adapter_maps_vectors_and_applies_relu():
    adapter = ConvAdapter(out_channels=4, in_channels=2, norm=False, relu=True)
    with torch.no_grad():
        adapter.conv.weight.copy_(torch.tensor([1.0, -1.0, 2.0, 0.0]).view(4, 1, 1, 1).expand(4, 2, 1, 1))
        adapter.conv.bias.zero_()
    vectors = torch.tensor([[1.0, 2.0], [0.5, -1.0], [0.0, 0.0]])  # (P=3, C=2): row sums 3, -0.5, 0
    sums = vectors.sum(dim=1, keepdim=True)
    expected = torch.relu(sums * torch.tensor([1.0, -1.0, 2.0, 0.0]))
    torch.testing.assert_close(adapter(vectors), expected)
    with pytest.raises(ValueError, match="kernel_size=1"):
        ConvAdapter(4, in_channels=2, kernel_size=3)(vectors)


def test_conv_adapter_rejects_bad_kernel():
    with pytest.raises(ValueError, match="got 5"):
        ConvAdapter(8, kernel_size=5)


def test_linear_adapter_infers_width():
    adapter = LinearAdapter(out_features=6, norm=True)
    out = adapter(torch.randn(2, 4, 5))
    assert out.shape == (2, 4, 6)
    assert adapter.linear.weight.shape == (6, 5)
    assert LinearAdapter(3, in_features=5)(torch.randn(7, 5)).shape == (7, 3)


@pytest.mark.parametrize("norm", [True, False])
def test_adapters_under_autocast(norm):
    dtype = torch.float16 if DEVICE == "cuda" else torch.bfloat16
    conv = ConvAdapter(8, norm=norm).to(DEVICE)
    linear = LinearAdapter(6, norm=norm).to(DEVICE)
    x = torch.randn(2, 3, 4, 4, device=DEVICE, requires_grad=True)
    with torch.autocast(device_type=DEVICE, dtype=dtype):
        feature_map = conv(x)
        tokens = linear(feature_map.flatten(2).transpose(1, 2))  # (N, HW, 8) -> (N, HW, 6)
        loss = mse_loss(feature_map, torch.zeros(2, 8, 4, 4, device=DEVICE)) + tokens.float().mean()
    loss.backward()
    assert feature_map.shape == (2, 8, 4, 4) and tokens.shape == (2, 16, 6)
    assert torch.isfinite(loss) and x.grad.abs().sum() > 0


def test_adapter_registry_build():
    adapter = MODELS.build(dict(type="ConvAdapter", out_channels=16, kernel_size=3))
    assert adapter(torch.randn(1, 4, 6, 6)).shape == (1, 16, 6, 6)


def test_whiten_over_positions_decorrelates_channels_above_the_floor():
    generator = torch.Generator().manual_seed(0)
    sources = torch.randn(2, 4, 12, 10, generator=generator)
    rotation = torch.linalg.qr(torch.randn(4, 4, generator=generator))[0]
    mixing = rotation * torch.tensor([3.0, 2.0, 1.5, 1.0])  # correlated channels, well above the floor
    mixed = torch.einsum("dc,nchw->ndhw", mixing, sources) + 5
    weak = mixed[:, :1] * 2 + 1e-3 * torch.randn(2, 1, 12, 10, generator=generator)  # almost a copy of channel 0
    white = whiten_over_positions(torch.cat([mixed, weak], 1))
    flat = white.flatten(2)
    assert flat.mean(-1).abs().max() < 1e-4
    covariance = flat @ flat.transpose(1, 2) / flat.shape[-1]
    torch.testing.assert_close(covariance[:, :4, :4], torch.eye(4).expand(2, 4, 4), atol=1e-2, rtol=0)
    assert covariance[:, 4, 4].max() < 0.01  # a direction below the floor is not blown up to unit variance
    # Cholesky whitening: the first channel is only standardised
    torch.testing.assert_close(white[:, :1], standardize_over_positions(mixed[:, :1]), atol=1e-2, rtol=0)


def test_whiten_over_positions_on_a_constant_map_is_zero_with_finite_gradients():
    constant = torch.ones(1, 3, 4, 4, requires_grad=True)
    white = whiten_over_positions(constant)
    assert torch.equal(white, torch.zeros_like(white))
    rank_one = (torch.arange(16.0).view(1, 1, 4, 4) * torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1)).requires_grad_()
    whiten_over_positions(rank_one).pow(3).sum().backward()
    assert torch.isfinite(rank_one.grad).all()


def test_whiten_over_positions_runs_in_float32_under_autocast():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 6, 8, 8, generator=generator)
    mixing = torch.randn(6, 6, 1, 1, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = torch.nn.functional.conv2d(x, mixing)  # bfloat16, as a layer's output under autocast
        white = whiten_over_positions(mixed)
    assert mixed.dtype == torch.bfloat16 and white.dtype == torch.float32
    # the same as in float32 without autocast: the covariance and its factor were not computed in bfloat16
    torch.testing.assert_close(white, whiten_over_positions(mixed.float()), atol=1e-5, rtol=1e-5)

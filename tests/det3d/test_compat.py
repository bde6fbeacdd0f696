"""densekd.det3d.compat's spconv CPU patch: a small sparse network trains on CPU, the patch is idempotent,
it is skipped when CUDA is available, and importing densekd.det3d applies both patches."""
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import densekd.det3d  # noqa: F401  (applies the patches)
from densekd.det3d import compat

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the modules that bind get_current_stream and that importing spconv.pytorch loads
SPCONV_STREAM_USERS = ["spconv.pytorch.cppcore", "spconv.pytorch.ops", "spconv.pytorch.hash"]


def sparse_voxels(num_voxels=300, channels=4, grid=16, batch_size=2, seed=0):
    """A SparseConvTensor of ``num_voxels`` distinct random voxels (split over the batch) with random features."""
    import spconv.pytorch as spconv

    generator = torch.Generator().manual_seed(seed)
    flat = torch.randperm(batch_size * grid ** 3, generator=generator)[:num_voxels]
    batch, zyx = flat // grid ** 3, flat % grid ** 3
    indices = torch.stack([batch, zyx // grid ** 2, zyx // grid % grid, zyx % grid], dim=1).int()
    features = torch.randn(num_voxels, channels, generator=generator, requires_grad=True)
    return spconv.SparseConvTensor(features, indices, [grid] * 3, batch_size)


def sparse_net():
    """SubMConv3d (4 -> 8) then a strided SparseConv3d (8 -> 16), ReLUs between."""
    import spconv.pytorch as spconv

    torch.manual_seed(0)
    return spconv.SparseSequential(spconv.SubMConv3d(4, 8, 3, indice_key="subm1"), nn.ReLU(),
                                   spconv.SparseConv3d(8, 16, 3, stride=2, padding=1), nn.ReLU())


def train_step(net, voxels):
    """Forward + backward of sum(out^2) -> the output SparseConvTensor."""
    out = net(voxels)
    out.features.square().sum().backward()
    return out


def test_sparse_net_trains_on_cpu():
    voxels, net = sparse_voxels(), sparse_net()
    out = train_step(net, voxels)
    assert out.spatial_shape == [8, 8, 8] and out.features.shape[1] == 16 and len(out.features) > 0
    grads = [voxels.features.grad] + [param.grad for param in net.parameters()]
    assert all(grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0 for grad in grads)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failure it guards against needs a machine without CUDA")
def test_unpatched_stream_getter_fails_on_cpu(monkeypatch):
    """Why the patch exists: spconv's own getter (torch.cuda.current_stream()) breaks the CPU backward."""
    import spconv.pytorch.ops as ops

    monkeypatch.setattr(ops, "get_current_stream", lambda: torch.cuda.current_stream().cuda_stream)
    with pytest.raises((RuntimeError, AssertionError), match="NVIDIA driver|CUDA"):
        train_step(sparse_net(), sparse_voxels())


def test_patches_are_idempotent():
    first, second = compat.apply_patches(), compat.apply_patches()
    assert first == second == {"kitti_rotated_iou": True, "spconv_cpu_stream": not torch.cuda.is_available()}
    if not torch.cuda.is_available():
        assert all(getattr(sys.modules[name], "get_current_stream") is compat.no_cuda_stream
                   for name in SPCONV_STREAM_USERS)
    train_step(sparse_net(), sparse_voxels())


@pytest.mark.skipif(torch.cuda.is_available(), reason="the stub is only installed without CUDA")
def test_spconv_module_imported_later_gets_the_stub():
    """spconv.pytorch.utils (PointToVoxel) is not loaded by spconv.pytorch: importing it later takes cppcore's stub."""
    import spconv.pytorch.utils as utils

    assert utils.get_current_stream is compat.no_cuda_stream


def test_cuda_available_leaves_spconv_untouched(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    sentinel = object()
    for name in SPCONV_STREAM_USERS:
        monkeypatch.setattr(sys.modules[name], "get_current_stream", sentinel)
    assert compat.patch_spconv_for_cpu() is False
    assert compat.apply_patches()["spconv_cpu_stream"] is False
    assert all(getattr(sys.modules[name], "get_current_stream") is sentinel for name in SPCONV_STREAM_USERS)


IMPORT_CHECK = """
import densekd.det3d
from densekd.det3d import compat
from mmdet3d.evaluation.functional.kitti_utils import eval as kitti_eval_module
import spconv.pytorch.ops as ops
assert kitti_eval_module.bev_box_overlap is compat.rotated_iou
assert kitti_eval_module.d3_box_overlap is compat.d3_box_overlap
print(ops.get_current_stream.__module__, ops.get_current_stream.__name__)
"""


def test_importing_densekd_det3d_applies_the_patches():
    """In a fresh interpreter: the KITTI overlaps are rebound; spconv's getter is the stub only without CUDA."""
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    cpu_stub, original = "densekd.det3d.compat no_cuda_stream", "spconv.pytorch.cppcore get_current_stream"
    assert done.stdout.strip().splitlines()[-1] == (original if torch.cuda.is_available() else cpu_stub)

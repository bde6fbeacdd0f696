"""3D detection on LiDAR (PointDistiller wing).

Importing this package applies :func:`densekd.det3d.compat.apply_patches`: mmdet3d's KITTI evaluation
scores rotated boxes with :func:`~densekd.det3d.compat.rotated_iou`, an exact float64 polygon clip (its
numba.cuda kernel fails without a GPU and is wrong under the CUDA simulator; mmcv's ``box_iou_rotated``
is wrong on collinear edges), and, without CUDA, spconv's stream getter returns 0 so its CPU ops run.
Both rebind names in memory only, nothing in site-packages changes; see ``compat``'s docstring.
It also registers ``JsonDataBaseSampler`` (GT sampling from densekd's JSON database) and
``LocalGraphDistiller`` (PointDistiller).
"""
from .compat import apply_patches, patch_spconv_for_cpu, rotated_iou, use_exact_rotated_iou
from .gt_sampling import JsonDataBaseSampler, load_db_infos
from .pointdistiller import LocalGraphDistiller

apply_patches()

__all__ = ["JsonDataBaseSampler", "LocalGraphDistiller", "load_db_infos", "apply_patches", "patch_spconv_for_cpu", "rotated_iou", "use_exact_rotated_iou"]

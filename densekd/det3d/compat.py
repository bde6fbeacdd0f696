"""Two GPU-only spots of the 3D stack, made correct on CPU (and kept correct on GPU).

``import densekd.det3d`` calls :func:`apply_patches`, which does both of the following. Each one
rebinds module attributes in the running interpreter only: nothing in site-packages changes.

1. Rotated IoU in mmdet3d's KITTI evaluation (:func:`use_exact_rotated_iou`).
   ``mmdet3d.evaluation.functional.kitti_utils.eval`` computes the BEV and 3D overlaps in
   ``bev_box_overlap`` and ``d3_box_overlap``, which import ``rotate_iou_gpu_eval`` from
   ``kitti_utils/rotate_iou.py``, a ``numba.cuda`` kernel. Without a GPU that module cannot even be
   imported ("CUDA driver library cannot be found": a kernel is compiled at import), and under
   ``NUMBA_ENABLE_CUDASIM=1`` it runs but is wrong: identical boxes can get IoU 0 (measured: a 4 x 2
   box at angle 0.6 against itself; which angles fail depends on the box). mmcv's compiled
   ``box_iou_rotated`` is no way out either: its float32 convex hull (a sort with an absolute 1e-6
   tolerance) breaks on boxes with collinear edges, which same-yaw boxes shifted along one axis have
   (measured on CPU: a 3.9 x 1.6 box at (-9, 24), yaw 2.0, against itself moved 0.8 along its length
   gives 0.248 instead of 0.660; 33 of 1000 such random pairs off by more than 1e-3; open issue
   open-mmlab/mmcv#2621). So :func:`rotated_iou` clips one rectangle by the other's four edges
   (Sutherland-Hodgman, float64, numba on the CPU, each pair centred on its first box) and takes the
   shoelace area; it matches shapely to ~1e-13 on such pairs and costs ~0.6 us per overlapping pair
   (pairs whose circumscribed circles miss are skipped). The two module-level names
   ``bev_box_overlap`` and ``d3_box_overlap`` of that eval module are rebound to versions built on it;
   the rest of that module (``calculate_iou_partly``, hence ``kitti_eval`` and mmdet3d's
   ``KittiMetric``) looks them up at call time. The 3D height overlap and normalisation stay
   mmdet3d's own ``d3_box_overlap_kernel``. This applies with and without CUDA, so CPU and GPU runs
   score with the same code.

   Angle convention: mmdet3d's kernel (``rotate_iou.rbbox_to_corners``) places a box corner at offset
   ``(u, v)`` from the centre at ``(cos a * u + sin a * v, -sin a * u + cos a * v)``; for the camera-frame
   BEV box ``(x, z, l, w, ry)`` that KITTI eval passes this is exactly KITTI's rotation about the
   camera's (downward) y axis, and :func:`rotated_iou` uses it. Negating every angle (e.g. mmcv's
   default ``clockwise=True``, the transposed rotation) is *not* harmless for boxes with different
   centres: (0, 0, 4, 2, 0.6) vs (1, 1, 4, 2, 0.6) has IoU 0.166 here, 0.396 with all angles negated.

2. spconv on CPU (:func:`patch_spconv_for_cpu`). spconv 2.3.8's CPU backward and hash ops call
   ``spconv.pytorch.cppcore.get_current_stream()``, i.e. ``torch.cuda.current_stream()``, which raises
   "Found no NVIDIA driver" without CUDA. When ``torch.cuda.is_available()`` is False, that function
   and every ``spconv.*`` module's imported copy of the name (``ops``, ``hash``, ``utils``, the
   quantization modules if loaded) are rebound to one returning stream 0, which the CPU kernels ignore;
   spconv modules imported later take the rebound function from ``cppcore``. With CUDA it does nothing.
"""
import sys

import numba
import numpy as np
import torch
from ..core.errors import InvalidValue

CRITERIA = {-1: "IoU", 0: "intersection / area of boxes", 1: "intersection / area of query_boxes",
            2: "intersection area"}
BEV_COLUMNS = [0, 2, 3, 5, 6]  # camera-frame (x, y, z, l, h, w, ry) -> BEV (x, z, l, w, ry)


def _as_rotated_boxes(boxes, name):
    """Array-like (N, 5) [x, y, dx, dy, angle] -> contiguous float64 numpy (N, 5)."""
    array = np.ascontiguousarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 5:
        raise InvalidValue(f"{name} must have shape (N, 5) [x, y, dx, dy, angle], got {np.shape(boxes)}")
    return array


@numba.njit(cache=True)
def _box_corners(box, corners):
    """(5,) [x, y, dx, dy, angle] -> corners (4, 2), counter-clockwise; offset (u, v) at (c u + s v, -s u + c v)."""
    cos, sin = np.cos(box[4]), np.sin(box[4])
    half_x, half_y = box[2] / 2, box[3] / 2
    for i, (u, v) in enumerate(((-half_x, -half_y), (half_x, -half_y), (half_x, half_y), (-half_x, half_y))):
        corners[i, 0] = box[0] + cos * u + sin * v
        corners[i, 1] = box[1] - sin * u + cos * v


@numba.njit(cache=True)
def _clip_by_edge(polygon, count, start, end, clipped):
    """Convex polygon[:count] (M, 2) -> its part left of the line start->end in clipped; returns the vertex count.

    Sutherland-Hodgman: a vertex on the line counts as inside, so shared and collinear edges stay exact.
    """
    edge_x, edge_y = end[0] - start[0], end[1] - start[1]
    kept = 0
    for i in range(count):
        j = (i + 1) % count
        side_i = edge_x * (polygon[i, 1] - start[1]) - edge_y * (polygon[i, 0] - start[0])
        side_j = edge_x * (polygon[j, 1] - start[1]) - edge_y * (polygon[j, 0] - start[0])
        if side_i >= 0:
            clipped[kept] = polygon[i]
            kept += 1
        if (side_i >= 0) != (side_j >= 0):  # the edge i -> j crosses the line
            t = side_i / (side_i - side_j)
            clipped[kept] = polygon[i] + t * (polygon[j] - polygon[i])
            kept += 1
    return kept


@numba.njit(cache=True)
def _intersection_area(corners, query_corners, polygon, clipped):
    """Two counter-clockwise rectangles (4, 2) -> area of their intersection (polygon, clipped: scratch (64, 2))."""
    polygon[:4] = corners
    count = 4
    for edge in range(4):
        count = _clip_by_edge(polygon, count, query_corners[edge], query_corners[(edge + 1) % 4], clipped)
        if count < 3:
            return 0.0
        polygon[:count] = clipped[:count]
    twice_area = 0.0
    for i in range(count):
        j = (i + 1) % count
        twice_area += polygon[i, 0] * polygon[j, 1] - polygon[j, 0] * polygon[i, 1]
    return abs(twice_area) / 2


@numba.njit(cache=True)
def _normalise(inter, area, query_area, criterion):
    """Intersection area -> the criterion's overlap (0 where its denominator is not positive)."""
    if criterion == 2:
        return inter
    if criterion == -1:
        denominator = area + query_area - inter
    elif criterion == 0:
        denominator = area
    else:
        denominator = query_area
    return inter / denominator if denominator > 0 else 0.0


@numba.njit(cache=True)
def _rotated_overlaps(boxes, query_boxes, criterion):
    """(N, 5) x (K, 5) float64 -> (N, K) overlaps; pairs whose circumscribed circles miss each other are 0."""
    overlaps = np.zeros((boxes.shape[0], query_boxes.shape[0]))
    corners, query_corners = np.empty((4, 2)), np.empty((4, 2))
    polygon, clipped = np.empty((64, 2)), np.empty((64, 2))  # a clip at most doubles 4 -> 8 -> 16 -> 32 -> 64
    for i in range(boxes.shape[0]):
        box = boxes[i].copy()
        centre = box[:2].copy()
        box[:2] = 0.0  # each pair is computed around box i's centre: full precision far from the origin
        _box_corners(box, corners)
        area = box[2] * box[3]
        for j in range(query_boxes.shape[0]):
            query = query_boxes[j].copy()
            query[:2] -= centre
            reach = (np.hypot(box[2], box[3]) + np.hypot(query[2], query[3])) / 2
            if query[0] ** 2 + query[1] ** 2 >= reach ** 2:
                continue
            _box_corners(query, query_corners)
            inter = _intersection_area(corners, query_corners, polygon, clipped)
            overlaps[i, j] = _normalise(inter, area, query[2] * query[3], criterion)
    return overlaps


def rotated_iou(boxes, query_boxes, criterion=-1):
    """(N, 5) x (K, 5) numpy [x, y, dx, dy, angle] -> (N, K) float64 overlaps (rotate_iou_gpu_eval's contract).

    ``criterion``: -1 IoU, 0 intersection / area of ``boxes``, 1 intersection / area of ``query_boxes``,
    2 the intersection area. Angles follow mmdet3d's KITTI convention (see the module docstring).
    """
    if criterion not in CRITERIA:
        raise InvalidValue(f"criterion must be one of {CRITERIA} (mmdet3d's rotate_iou_gpu_eval), got {criterion!r}")
    boxes, query_boxes = _as_rotated_boxes(boxes, "boxes"), _as_rotated_boxes(query_boxes, "query_boxes")
    return _rotated_overlaps(boxes, query_boxes, criterion)


def d3_box_overlap(boxes, qboxes, criterion=-1):
    """(N, 7) x (K, 7) camera-frame [x, y, z, l, h, w, ry] -> (N, K) 3D overlaps, as mmdet3d's d3_box_overlap.

    The BEV intersection comes from :func:`rotated_iou`; mmdet3d's ``d3_box_overlap_kernel`` multiplies it
    by the height overlap (boxes span ``[y - h, y]``) and normalises it by ``criterion`` in place.
    """
    from mmdet3d.evaluation.functional.kitti_utils.eval import d3_box_overlap_kernel

    overlaps = rotated_iou(boxes[:, BEV_COLUMNS], qboxes[:, BEV_COLUMNS], criterion=2)
    d3_box_overlap_kernel(boxes, qboxes, overlaps, criterion)
    return overlaps


def use_exact_rotated_iou():
    """Rebind ``bev_box_overlap`` / ``d3_box_overlap`` in mmdet3d's KITTI eval module to the rotated_iou ones."""
    from mmdet3d.evaluation.functional.kitti_utils import eval as kitti_eval_module

    kitti_eval_module.bev_box_overlap = rotated_iou
    kitti_eval_module.d3_box_overlap = d3_box_overlap


def no_cuda_stream():
    """The stream handle spconv hands its CPU kernels, which ignore it: 0."""
    return 0


def spconv_needs_cpu_patch():
    """True when spconv's ``get_current_stream`` would fail: no usable CUDA."""
    return not torch.cuda.is_available()


def patch_spconv_for_cpu():
    """Without CUDA, rebind spconv's ``get_current_stream`` (cppcore and each importer) to :func:`no_cuda_stream`.

    Returns whether it patched; with CUDA available spconv is left untouched.
    """
    if not spconv_needs_cpu_patch():
        return False
    import spconv.pytorch  # noqa: F401  (loads cppcore and the modules that import its stream getter)
    from spconv.pytorch import cppcore

    stream_getter = cppcore.get_current_stream  # the original, or no_cuda_stream on a second call
    for name, module in list(sys.modules.items()):
        is_spconv = name == "spconv" or name.startswith("spconv.")
        if is_spconv and getattr(module, "get_current_stream", None) is stream_getter:
            module.get_current_stream = no_cuda_stream
    return True


def apply_patches():
    """Apply both patches (idempotent) -> {'kitti_rotated_iou': True, 'spconv_cpu_stream': patched or not}."""
    use_exact_rotated_iou()
    return {"kitti_rotated_iou": True, "spconv_cpu_stream": patch_spconv_for_cpu()}

"""KITTI 3D object detection on disk: read/write, box conversion, and mmdet3d's info + GT-database preparation.

The layout is the KITTI object benchmark's (``data_object_{velodyne,label_2,calib,image_2}.zip``
unzipped into ``root``, plus the ``ImageSets`` split files)::

    root/training/velodyne/000000.bin     float32 (x, y, z, reflectance), LiDAR frame
    root/training/label_2/000000.txt      15 fields a line, rectified camera frame
    root/training/calib/000000.txt        P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    root/training/image_2/000000.png      1242 x 375 (about; it varies a little in KITTI)
    root/training/planes/000000.txt       road plane (optional; mmdet3d's PointPillars config samples onto it)
    root/testing/{velodyne,calib,image_2}/...  the test split (optional): KITTI's has no label_2, the
                                          synthetic scenes' (densekd.data.lidar_scenes) has
    root/ImageSets/{train,val,trainval}.txt   6-digit frame ids, one a line (test.txt optional)

:func:`prepare_kitti` writes what mmdet3d 1.4's KITTI configs read, in JSON instead of pickle::

    root/training/velodyne_reduced/000000.bin   the points inside camera 2's image frustum
    root/kitti_infos_{train,val,trainval}.json  mmdet3d v2 infos: {'metainfo', 'data_list'}
    root/kitti_infos_test.json                  when testing/ and ImageSets/test.txt are there; with
                                                annotations when testing/label_2 is
    root/kitti_gt_database/{idx}_{class}_{i}.bin  each training object's points, box-bottom-relative
    root/kitti_dbinfos_train.json               {class: [{'name', 'path', 'box3d_lidar', ...}]}
    root/kitti_prepare_meta.json                inputs' fingerprint + summary, to skip re-preparing

Frames. LiDAR: x forward, y left, z up. Rectified camera: x right, y down, z forward; a point
goes LiDAR -> camera by ``lidar2cam = R0_rect @ Tr_velo_to_cam`` (4x4) and to camera-2 pixels by
``P2 @ lidar2cam``. A LiDAR box is ``[x, y, z_bottom, l, w, h, yaw]`` (mmdet3d's LiDARInstance3DBoxes);
a camera box is ``[x, y_bottom, z, l, h, w, ry]`` (KITTI's label, dims reordered to l, h, w as
mmdet3d stores ``bbox_3d``). Between the two the centre is transformed and the heading is
``ry = -yaw - pi/2`` exactly as mmdet3d's ``Box3DMode.convert`` does (the sub-degree tilt of
the calibration is ignored for the heading there, so it is here).

mmdet3d's ``DataBaseSampler`` reads its index with pickle only: densekd's ``JsonDataBaseSampler``
(densekd/det3d/gt_sampling.py) reads ``kitti_dbinfos_train.json``.
"""
import hashlib
import math
import re
from pathlib import Path

import numpy as np

from densekd.data.manifest import read_json_or_none, write_json_atomic
from ..core.errors import InvalidValue, MissingFile

__all__ = [
    "KITTI_CLASSES", "KITTI_3D_CLASSES", "KITTI_IMAGE_SIZE", "KITTI_REFERENCE_CALIB", "KITTI_DOWNLOAD_HINT",
    "read_calib", "write_calib", "read_label", "write_label", "parse_label_line", "format_label_line",
    "read_plane", "write_plane", "read_velodyne", "write_velodyne", "to_homogeneous", "lidar_to_camera", "wrap_angle",
    "lidar_boxes_to_camera", "camera_boxes_to_lidar", "lidar_box_corners", "camera_box_corners",
    "project_to_image", "image_boxes_and_truncation", "camera_frustum_mask", "points_in_lidar_boxes",
    "kitti_difficulty", "check_kitti_root", "read_image_set", "prepare_kitti",
]

# mmdet3d's KittiDataset.METAINFO order: label 0 Pedestrian, 1 Cyclist, 2 Car, ...; any other name
# (DontCare) is label -1.
KITTI_CLASSES = ("Pedestrian", "Cyclist", "Car", "Van", "Truck", "Person_sitting", "Tram", "Misc")
KITTI_3D_CLASSES = ("Pedestrian", "Cyclist", "Car")
DONT_CARE = "DontCare"
KITTI_IMAGE_SIZE = (375, 1242)  # (height, width) of most KITTI object frames

CALIB_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3),
                "Tr_velo_to_cam": (3, 4), "Tr_imu_to_velo": (3, 4)}

# A KITTI object-benchmark calibration (a 2011_09_26 drive): 'cam' is the rectified camera 0;
# P_i carries camera i's baseline.
KITTI_REFERENCE_CALIB = {
    "P0": [[721.5377, 0.0, 609.5593, 0.0], [0.0, 721.5377, 172.854, 0.0], [0.0, 0.0, 1.0, 0.0]],
    "P1": [[721.5377, 0.0, 609.5593, -387.5744], [0.0, 721.5377, 172.854, 0.0], [0.0, 0.0, 1.0, 0.0]],
    "P2": [[721.5377, 0.0, 609.5593, 44.85728], [0.0, 721.5377, 172.854, 0.2163791],
           [0.0, 0.0, 1.0, 0.002745884]],
    "P3": [[721.5377, 0.0, 609.5593, -339.5242], [0.0, 721.5377, 172.854, 2.199936],
           [0.0, 0.0, 1.0, 0.002729905]],
    "R0_rect": [[0.9999239, 0.00983776, -0.007445048], [-0.009869795, 0.9999421, -0.004278459],
                [0.007402527, 0.004351614, 0.9999631]],
    "Tr_velo_to_cam": [[0.007533745, -0.9999714, -0.000616602, -0.004069766],
                       [0.01480249, 0.0007280733, -0.9998902, -0.07631618],
                       [0.9998621, 0.00752379, 0.01480755, -0.2717806]],
    "Tr_imu_to_velo": [[0.9999976, 0.0007553071, -0.002035826, -0.8086759],
                       [-0.0007854027, 0.9998898, -0.01482298, 0.3195559],
                       [0.002024406, 0.01482454, 0.9998881, -0.7997231]],
}

KITTI_DOWNLOAD_HINT = (
    "download the KITTI 3D object detection benchmark from "
    "https://www.cvlibs.net/datasets/kitti/eval_object.php?obj_benchmark=3d (free registration): "
    "data_object_velodyne.zip, data_object_label_2.zip, data_object_calib.zip and data_object_image_2.zip, "
    "and unzip them into {root} (giving {root}/training/velodyne, label_2, calib, image_2); then put the "
    "split files train.txt, val.txt, trainval.txt (and test.txt) into {root}/ImageSets, e.g. from "
    "https://raw.githubusercontent.com/traveller59/second.pytorch/master/second/data/ImageSets/ "
    "(the split mmdet3d's data preparation guide uses)")

INFO_NAME = "kitti_infos_{split}.json"
DBINFO_NAME = "kitti_dbinfos_train.json"
DATABASE_DIR = "kitti_gt_database"
REDUCED_DIR = "velodyne_reduced"
_META_NAME = "kitti_prepare_meta.json"
_FORMAT_VERSION = 2
_DATABASE_FILE = re.compile(r"\d+_[A-Za-z_]+_\d+\.bin")
_FRUSTUM_DEPTH = (0.001, 100.0)  # mmdet3d's remove_outside_points: near and far clip (m)
_PROGRESS_MIN_FRAMES = 500  # show a progress bar from this many frames a split on (real KITTI)


# ---- calib / label_2 / velodyne ------------------------------------------------------------------

def read_calib(path):
    """KITTI calib .txt -> {name: float64 array}: P0..P3 (3, 4), R0_rect (3, 3), Tr_* (3, 4)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        key, sep, rest = line.partition(":")
        if sep and key.strip() in CALIB_SHAPES:
            values[key.strip()] = np.array(rest.split(), dtype=np.float64)
    calib = {}
    for key, shape in CALIB_SHAPES.items():
        if key not in values:
            raise InvalidValue(f"{path}: no '{key}:' line; a KITTI object calib file has "
                               f"{', '.join(CALIB_SHAPES)}")
        if values[key].size != shape[0] * shape[1]:
            raise InvalidValue(f"{path}: '{key}' has {values[key].size} numbers, expected "
                               f"{shape[0] * shape[1]} ({shape[0]}x{shape[1]})")
        calib[key] = values[key].reshape(shape)
    return calib


def write_calib(path, calib):
    """Write {name: matrix} (the keys of :data:`CALIB_SHAPES`) as a KITTI calib .txt (%.12e, as KITTI)."""
    lines = []
    for key, shape in CALIB_SHAPES.items():
        matrix = np.asarray(calib[key], dtype=np.float64)
        if matrix.shape != shape:
            raise InvalidValue(f"calib '{key}' must be {shape[0]}x{shape[1]}, got shape {matrix.shape}")
        lines.append(f"{key}: " + " ".join(f"{v:.12e}" for v in matrix.ravel()))
    Path(path).write_text("\n".join(lines) + "\n\n")


def parse_label_line(line):
    """One label_2 line -> dict(type, truncated, occluded, alpha, bbox[4], dimensions [h, w, l],
    location [3], rotation_y, and score when a 16th field is there)."""
    fields = line.split()
    if len(fields) not in (15, 16):
        raise InvalidValue(f"a KITTI label line has 15 fields (16 with a score), got {len(fields)}: {line!r}")
    numbers = [float(v) for v in fields[1:]]
    obj = dict(type=fields[0], truncated=numbers[0], occluded=int(numbers[1]), alpha=numbers[2],
               bbox=numbers[3:7], dimensions=numbers[7:10], location=numbers[10:13], rotation_y=numbers[13])
    if len(fields) == 16:
        obj["score"] = numbers[14]
    return obj


def format_label_line(obj):
    """A label dict (as :func:`parse_label_line` returns) -> one label_2 line, 2 decimals as KITTI."""
    numbers = [obj["truncated"], obj["alpha"], *obj["bbox"], *obj["dimensions"], *obj["location"],
               obj["rotation_y"]]
    text = [f"{v:.2f}" for v in numbers]
    parts = [obj["type"], text[0], str(int(obj["occluded"])), *text[1:]]
    if "score" in obj:
        parts.append(f"{obj['score']:.4f}")
    return " ".join(parts)


def read_label(path):
    """label_2 .txt -> list of label dicts in file order (an empty file -> [])."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    try:
        return [parse_label_line(line) for line in lines]
    except ValueError as err:
        raise InvalidValue(f"{path}: {err}") from None


def write_label(path, objects):
    """Write label dicts as a label_2 .txt; no objects writes an empty file (valid KITTI)."""
    Path(path).write_text("".join(format_label_line(obj) + "\n" for obj in objects))


def read_plane(path):
    """planes/NNNNNN.txt (KITTI's road planes: '# Plane', 'Width 4', 'Height 1', 'a b c d') -> [a, b, c, d],
    the rectified-camera plane a x + b y + c z + d = 0 with (a, b, c) the unit normal pointing up."""
    values = Path(path).read_text().split()[-4:]
    try:
        return [float(v) for v in values]
    except ValueError:
        raise InvalidValue(f"{path}: expected a road plane 'a b c d' on its last line, got {values}") from None


def write_plane(path, plane):
    """Write a road plane [a, b, c, d] in KITTI's planes/ format."""
    Path(path).write_text("# Plane\nWidth 4\nHeight 1\n" + " ".join(f"{v:e}" for v in plane) + "\n")


def read_velodyne(path, num_features=4):
    """velodyne .bin -> (N, num_features) float32."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % num_features:
        raise InvalidValue(f"{path}: {data.size} floats is not a multiple of {num_features} features a point")
    return data.reshape(-1, num_features)


def write_velodyne(path, points):
    """Write (N, 4) points as float32 .bin."""
    np.ascontiguousarray(points, dtype=np.float32).tofile(path)


# ---- frames and boxes ----------------------------------------------------------------------------

def to_homogeneous(matrix):
    """(3, 3) or (3, 4) -> (4, 4) with the last row [0, 0, 0, 1]."""
    matrix = np.asarray(matrix, dtype=np.float64)
    out = np.eye(4)
    out[:matrix.shape[0], :matrix.shape[1]] = matrix
    return out


def lidar_to_camera(calib):
    """(4, 4) LiDAR -> rectified camera: R0_rect @ Tr_velo_to_cam."""
    return to_homogeneous(calib["R0_rect"]) @ to_homogeneous(calib["Tr_velo_to_cam"])


def wrap_angle(angle):
    """Angles (any shape) wrapped into [-pi, pi), as mmdet3d's limit_period(period=2 pi)."""
    angle = np.asarray(angle, dtype=np.float64)
    return angle - np.floor(angle / (2 * np.pi) + 0.5) * 2 * np.pi


def _transform(points, matrix):
    """(N, 3) points through a (4, 4) or (3, 4) rigid transform -> (N, 3)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def lidar_boxes_to_camera(boxes, lidar2cam):
    """(N, 7) LiDAR [x, y, z_bottom, l, w, h, yaw] -> (N, 7) camera [x, y_bottom, z, l, h, w, ry]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    xyz = _transform(boxes[:, :3], np.asarray(lidar2cam, dtype=np.float64))
    ry = wrap_angle(-boxes[:, 6] - np.pi / 2)
    return np.concatenate([xyz, boxes[:, [3, 5, 4]], ry[:, None]], axis=1)


def camera_boxes_to_lidar(boxes, lidar2cam):
    """(N, 7) camera [x, y_bottom, z, l, h, w, ry] -> (N, 7) LiDAR [x, y, z_bottom, l, w, h, yaw]."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    xyz = _transform(boxes[:, :3], np.linalg.inv(np.asarray(lidar2cam, dtype=np.float64)))
    yaw = wrap_angle(-boxes[:, 6] - np.pi / 2)
    return np.concatenate([xyz, boxes[:, [3, 5, 4]], yaw[:, None]], axis=1)


_UNIT_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (0.0, 1.0)])


def lidar_box_corners(boxes):
    """(N, 7) LiDAR boxes (bottom centre) -> (N, 8, 3) corners."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    local = _UNIT_CORNERS[None] * boxes[:, None, 3:6]
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = local[..., 0] * cos - local[..., 1] * sin
    y = local[..., 0] * sin + local[..., 1] * cos
    return np.stack([x, y, local[..., 2]], axis=-1) + boxes[:, None, :3]


def camera_box_corners(boxes):
    """(N, 7) camera boxes [x, y_bottom, z, l, h, w, ry] -> (N, 8, 3) corners (rotation about y)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    unit = _UNIT_CORNERS[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])  # x along l, y up to -h, z along w
    local = unit[None] * boxes[:, None, 3:6]
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = local[..., 0] * cos + local[..., 2] * sin
    z = -local[..., 0] * sin + local[..., 2] * cos
    return np.stack([x, local[..., 1], z], axis=-1) + boxes[:, None, :3]


def project_to_image(points, matrix):
    """(..., 3) points through a (3, 4) / (4, 4) projection -> ((..., 2) pixels, (...,) depth)."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    uvw = points @ matrix[:3, :3].T + matrix[:3, 3]
    depth = uvw[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[..., :2] / depth[..., None]
    return uv, depth


def image_boxes_and_truncation(corners_uv, image_size):
    """(N, 8, 2) projected corners -> ((N, 4) boxes clipped to the image, (N,) truncation), where
    truncation is the fraction of the unclipped box's area outside the image (1 when all outside)."""
    height, width = image_size
    corners_uv = np.asarray(corners_uv, dtype=np.float64).reshape(-1, 8, 2)
    full = np.concatenate([corners_uv.min(axis=1), corners_uv.max(axis=1)], axis=1)
    clipped = np.stack([np.clip(full[:, 0], 0, width), np.clip(full[:, 1], 0, height),
                        np.clip(full[:, 2], 0, width), np.clip(full[:, 3], 0, height)], axis=1)
    area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    truncation = np.where(area > 0, 1.0 - inside / np.maximum(area, 1e-9), 1.0)
    return clipped, np.clip(truncation, 0.0, 1.0)


def camera_frustum_mask(points, calib, image_size):
    """(N,) bool: the points (N, 3+) whose camera-2 projection lies in the image at depth 0.001..100 m,
    the frustum mmdet3d's ``remove_outside_points`` keeps (``image_size`` = (height, width))."""
    height, width = image_size
    uv, depth = project_to_image(points[:, :3], to_homogeneous(calib["P2"]) @ lidar_to_camera(calib))
    inside = (depth > _FRUSTUM_DEPTH[0]) & (depth < _FRUSTUM_DEPTH[1])
    with np.errstate(invalid="ignore"):
        inside &= (uv[:, 0] >= 0) & (uv[:, 0] <= width) & (uv[:, 1] >= 0) & (uv[:, 1] <= height)
    return inside


def points_in_lidar_boxes(points, boxes):
    """(N, 3+) points, (M, 7) LiDAR boxes (bottom centre) -> (N, M) bool: point inside box."""
    xyz = np.asarray(points, dtype=np.float64)[:, :3]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    inside = np.zeros((len(xyz), len(boxes)), dtype=bool)
    for m, (x, y, z, length, width, height, yaw) in enumerate(boxes):
        dx, dy, dz = xyz[:, 0] - x, xyz[:, 1] - y, xyz[:, 2] - z
        along = dx * math.cos(yaw) + dy * math.sin(yaw)
        across = -dx * math.sin(yaw) + dy * math.cos(yaw)
        inside[:, m] = ((np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
                        & (dz >= 0) & (dz <= height))
    return inside


def kitti_difficulty(box_heights, occluded, truncated):
    """(N,) 2D box heights (px), occlusion levels, truncations -> (N,) difficulty: 0 easy, 1 moderate,
    2 hard, -1 none, by mmdet3d's rule (height > 40 / 25 / 25 px, occlusion <= 0 / 1 / 2,
    truncation <= 0.15 / 0.3 / 0.5)."""
    heights = np.asarray(box_heights, dtype=np.float64)
    occluded = np.asarray(occluded)
    truncated = np.asarray(truncated, dtype=np.float64)
    difficulty = np.full(heights.shape, -1, dtype=np.int64)
    for level, (min_height, max_occlusion, max_truncation) in reversed(list(enumerate(
            [(40, 0, 0.15), (25, 1, 0.3), (25, 2, 0.5)]))):
        ok = (heights > min_height) & (occluded <= max_occlusion) & (truncated <= max_truncation)
        difficulty[ok] = level
    return difficulty


# ---- the dataset root ----------------------------------------------------------------------------

_REQUIRED = ("training/velodyne", "training/label_2", "training/calib", "training/image_2",
             "ImageSets/train.txt", "ImageSets/val.txt")


def check_kitti_root(root):
    """Raise FileNotFoundError naming every missing part of a KITTI object root, and how to get it."""
    root = Path(root)
    if not root.is_dir():
        raise MissingFile(f"KITTI root {root} not found. To get it, {KITTI_DOWNLOAD_HINT.format(root=root)}.")
    missing = [part for part in _REQUIRED if not (root / part).exists()]
    if missing:
        raise MissingFile(f"KITTI root {root} lacks {', '.join(str(root / m) for m in missing)}. "
                          f"To get them, {KITTI_DOWNLOAD_HINT.format(root=root)}.")


def read_image_set(path):
    """ImageSets/<split>.txt -> list of int frame ids."""
    ids = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            if not line.strip().isdigit():
                raise InvalidValue(f"{path}:{number}: expected a frame id such as 000042, got {line.strip()!r}")
            ids.append(int(line))
    return ids


def _image_size(path):
    """(height, width) of an image file, read from its header."""
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width


# ---- mmdet3d v2 infos ----------------------------------------------------------------------------

def _label_arrays(labels):
    """Label dicts -> (N, 7) camera boxes [x, y, z, l, h, w, ry] and (N,) class names."""
    boxes = np.array([[*obj["location"], obj["dimensions"][2], obj["dimensions"][0], obj["dimensions"][1],
                       obj["rotation_y"]] for obj in labels], dtype=np.float64).reshape(-1, 7)
    return boxes, [obj["type"] for obj in labels]


def _images_info(calib, sample_idx, image_size):
    """The info's 'images': CAM0..CAM3 with cam2img / lidar2cam / lidar2img (4x4), CAM2's image, R0_rect."""
    lidar2cam = lidar_to_camera(calib)
    images = {}
    for cam in range(4):
        cam2img = to_homogeneous(calib[f"P{cam}"])
        images[f"CAM{cam}"] = dict(cam2img=cam2img.tolist(), lidar2cam=lidar2cam.tolist(),
                                   lidar2img=(cam2img @ lidar2cam).tolist())
    images["CAM2"].update(img_path=f"{sample_idx:06d}.png", height=int(image_size[0]), width=int(image_size[1]))
    images["R0_rect"] = to_homogeneous(calib["R0_rect"]).tolist()
    return images


def _instances(labels, calib, points):
    """mmdet3d v2 'instances' (one per label line, DontCare with label -1) of a frame."""
    boxes, names = _label_arrays(labels)
    cared = np.array([name != DONT_CARE for name in names], dtype=bool)
    num_points = np.full(len(labels), -1, dtype=np.int64)  # DontCare: -1, as mmdet3d
    lidar_boxes = camera_boxes_to_lidar(boxes[cared], lidar_to_camera(calib))
    num_points[cared] = points_in_lidar_boxes(points, lidar_boxes).sum(axis=0)
    index = np.where(cared, np.cumsum(cared) - 1, -1)
    heights = np.array([obj["bbox"][3] - obj["bbox"][1] for obj in labels])
    difficulty = kitti_difficulty(heights, [o["occluded"] for o in labels], [o["truncated"] for o in labels])
    centres = boxes[:, :3] - np.outer(boxes[:, 4] / 2, [0.0, 1.0, 0.0])  # bottom -> gravity centre
    centres_2d, depths = project_to_image(centres, to_homogeneous(calib["P2"]))
    instances = []
    for i, obj in enumerate(labels):
        label = KITTI_CLASSES.index(obj["type"]) if obj["type"] in KITTI_CLASSES else -1
        instances.append(dict(
            bbox=[float(v) for v in obj["bbox"]], bbox_label=label, bbox_3d=boxes[i].tolist(),
            bbox_label_3d=label, depth=float(depths[i]), center_2d=centres_2d[i].tolist(),
            num_lidar_pts=int(num_points[i]), difficulty=int(difficulty[i]), truncated=float(obj["truncated"]),
            occluded=int(obj["occluded"]), alpha=float(obj["alpha"]), score=float(obj.get("score", 0.0)),
            index=int(index[i]), group_id=i))
    return instances


def _cam_instances(labels, calib, image_size):
    """mmdet3d's 'cam_instances' CAM2 records: the 3D boxes re-projected into the image (hull clipped)."""
    from shapely.geometry import MultiPoint, Polygon, box

    boxes, _ = _label_arrays(labels)
    cam2img = to_homogeneous(calib["P2"])
    canvas = box(0, 0, image_size[1], image_size[0])
    records = []
    for i, obj in enumerate(labels):
        if obj["type"] not in KITTI_CLASSES or obj["occluded"] not in (0, 1, 2, 3):
            continue
        corners = camera_box_corners(boxes[i])[0]
        uv, _ = project_to_image(corners[corners[:, 2] > 0], cam2img)
        hull = MultiPoint(uv.tolist()).convex_hull
        clipped = hull.intersection(canvas) if hull.intersects(canvas) else None
        if not isinstance(clipped, Polygon):
            continue
        centre = boxes[i, :3] - np.array([0.0, boxes[i, 4] / 2, 0.0])
        centre_2d, depth = project_to_image(centre, cam2img)
        if depth <= 0:
            continue
        label = KITTI_CLASSES.index(obj["type"])
        records.append(dict(bbox_label=label, bbox_label_3d=label, bbox=list(clipped.bounds),
                            bbox_3d_isvalid=True, bbox_3d=boxes[i].tolist(), velocity=-1,
                            center_2d=centre_2d.tolist(), depth=float(depth)))
    return {"CAM2": records}


def _metainfo(ignored_names):
    """The info file's 'metainfo': mmdet3d's categories, plus each ignored name seen (DontCare) as -1."""
    categories = {name: i for i, name in enumerate(KITTI_CLASSES)}
    categories.update({name: -1 for name in sorted(ignored_names)})
    return dict(categories=categories, dataset="kitti", info_version="1.1")


# ---- the preparation -----------------------------------------------------------------------------

def _frame_files(root, split_dir, sample_idx, labelled):
    stem = f"{sample_idx:06d}"
    files = {"velodyne": root / split_dir / "velodyne" / f"{stem}.bin",
             "calib": root / split_dir / "calib" / f"{stem}.txt",
             "image": root / split_dir / "image_2" / f"{stem}.png"}
    if labelled:
        files["label"] = root / split_dir / "label_2" / f"{stem}.txt"
    if (root / split_dir / "planes").is_dir():  # the road planes (a separate download) when present
        files["plane"] = root / split_dir / "planes" / f"{stem}.txt"
    return files


def _splits(root):
    """{split: (split folder, labelled, frame ids)}: train and val, and test when it is there (labelled
    when testing/label_2 is: the synthetic scenes' report split, not KITTI's own test split)."""
    sets = root / "ImageSets"
    splits = {name: ("training", True, read_image_set(sets / f"{name}.txt")) for name in ("train", "val")}
    if (sets / "test.txt").is_file() and (root / "testing" / "velodyne").is_dir():
        splits["test"] = ("testing", (root / "testing" / "label_2").is_dir(), read_image_set(sets / "test.txt"))
    return splits


def _outputs_present(root, splits, files):
    """Whether every info file and every frame's reduced cloud is there."""
    return all((root / name).is_file() for name in files) and all(
        (root / split_dir / REDUCED_DIR / f"{sample_idx:06d}.bin").is_file()
        for split_dir, _, ids in splits.values() for sample_idx in ids)


def _fingerprint(root, splits):
    """A digest of the split files and every input file's size and mtime."""
    digest = hashlib.sha1(f"densekd-kitti-{_FORMAT_VERSION}".encode())
    for name, (split_dir, labelled, ids) in sorted(splits.items()):
        digest.update(f"{name}:{split_dir}:{ids}".encode())
        for sample_idx in ids:
            for path in _frame_files(root, split_dir, sample_idx, labelled).values():
                if not path.is_file():
                    raise MissingFile(f"{path} not found, but frame {sample_idx:06d} is listed in "
                                      f"{root / 'ImageSets' / (name + '.txt')}")
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def _read_meta(root):
    return read_json_or_none(root / _META_NAME)


def _prepare_frame(root, split_dir, sample_idx, labelled, reduced_done):
    """Read one frame, write its reduced cloud (once); return (info, reduced points, calib, labels)."""
    files = _frame_files(root, split_dir, sample_idx, labelled)
    calib = read_calib(files["calib"])
    image_size = _image_size(files["image"])
    points = read_velodyne(files["velodyne"])
    points = points[camera_frustum_mask(points, calib, image_size)]
    reduced = root / split_dir / REDUCED_DIR / f"{sample_idx:06d}.bin"
    if (split_dir, sample_idx) not in reduced_done:
        write_velodyne(reduced, points)
        reduced_done.add((split_dir, sample_idx))
    info = dict(sample_idx=sample_idx, images=_images_info(calib, sample_idx, image_size),
                lidar_points=dict(num_pts_feats=4, lidar_path=f"{sample_idx:06d}.bin",
                                  Tr_velo_to_cam=to_homogeneous(calib["Tr_velo_to_cam"]).tolist(),
                                  Tr_imu_to_velo=to_homogeneous(calib["Tr_imu_to_velo"]).tolist()),
                instances=[])
    if "plane" in files:  # mmdet3d's ObjectSample(use_ground_plane=True) puts sampled objects on it
        info["plane"] = read_plane(files["plane"])
    labels = read_label(files["label"]) if labelled else []
    if labelled:
        info["instances"] = _instances(labels, calib, points)
        info["cam_instances"] = _cam_instances(labels, calib, image_size)
    return info, points, calib, labels


def _add_to_database(database, root, info, points, calib, labels, group_counter):
    """Write a training frame's object points to kitti_gt_database/ and index them; returns the counter.

    As mmdet3d's create_groundtruth_database on KittiDataset: the boxes of the 8 classes (label -1,
    DontCare, dropped) in the LiDAR frame, the reduced points inside each, shifted by the box's
    bottom centre; i counts those boxes; every object is its own group."""
    kept = [obj for obj in labels if obj["type"] in KITTI_CLASSES]
    boxes, names = _label_arrays(kept)
    lidar_boxes = camera_boxes_to_lidar(boxes, lidar_to_camera(calib)).astype(np.float32)
    inside = points_in_lidar_boxes(points, lidar_boxes)
    cared = [inst for inst in info["instances"] if inst["bbox_label"] != -1]
    for i, name in enumerate(names):
        object_points = points[inside[:, i]].copy()
        object_points[:, :3] -= lidar_boxes[i, :3]
        filename = f"{info['sample_idx']}_{name}_{i}.bin"
        write_velodyne(root / DATABASE_DIR / filename, object_points)
        database.setdefault(name, []).append(dict(
            name=name, path=f"{DATABASE_DIR}/{filename}", image_idx=info["sample_idx"], gt_idx=i,
            box3d_lidar=lidar_boxes[i].tolist(), num_points_in_gt=int(len(object_points)),
            difficulty=cared[i]["difficulty"], group_id=group_counter, score=cared[i]["score"]))
        group_counter += 1
    return group_counter


def _split_summary(data_list):
    """Frames, instances and moderate instances (KITTI's moderate: easy or moderate) a class, DontCare count
    and moderate share of a split."""
    counts, moderate = {}, {}
    for info in data_list:
        for inst in info["instances"]:
            if inst["bbox_label"] >= 0:
                name = KITTI_CLASSES[inst["bbox_label"]]
                counts[name] = counts.get(name, 0) + 1
                moderate[name] = moderate.get(name, 0) + int(inst["difficulty"] in (0, 1))
    total = sum(counts.values())
    dont_care = sum(inst["bbox_label"] == -1 for info in data_list for inst in info["instances"])
    return dict(frames=len(data_list), instances=counts, moderate=moderate, dont_care=int(dont_care),
                moderate_fraction=round(sum(moderate.values()) / total, 4) if total else 0.0)


def _clear_database(root):
    """Delete the GT-database files an earlier preparation wrote (by their name pattern only)."""
    database = root / DATABASE_DIR
    database.mkdir(exist_ok=True)
    for path in database.iterdir():
        if _DATABASE_FILE.fullmatch(path.name):
            path.unlink()


def prepare_kitti(root, overwrite=False):
    """Write velodyne_reduced, the mmdet3d v2 info JSONs and the GT database of a KITTI root; return a summary.

    The summary is ``{'root', 'generated', 'splits': {split: {'frames', 'instances': {class: n},
    'moderate': {class: n}, 'dont_care', 'moderate_fraction'}}, 'gt_database': {class: n}, 'files':
    [...]}``; ``generated`` is False when ``root/kitti_prepare_meta.json`` shows these exact inputs were
    prepared already (nothing is rewritten unless ``overwrite``). A missing root or folder raises
    FileNotFoundError saying what to download.
    """
    from tqdm import tqdm

    root = Path(root)
    check_kitti_root(root)
    splits = _splits(root)
    fingerprint = _fingerprint(root, splits)
    meta = _read_meta(root)
    if (not overwrite and meta and meta.get("fingerprint") == fingerprint and meta.get("complete")
            and _outputs_present(root, splits, meta["summary"]["files"])):
        return dict(meta["summary"], root=str(root), generated=False)
    write_json_atomic(root / _META_NAME, dict(fingerprint=fingerprint, complete=False))

    for split_dir in {split_dir for split_dir, _, _ in splits.values()}:
        (root / split_dir / REDUCED_DIR).mkdir(exist_ok=True)
    _clear_database(root)
    data_lists, ignored, database, group_counter, reduced_done = {}, {}, {}, 0, set()
    for name, (split_dir, labelled, ids) in splits.items():
        data_lists[name], ignored[name] = [], set()
        for sample_idx in tqdm(ids, desc=f"kitti {name}", unit="frame", disable=len(ids) < _PROGRESS_MIN_FRAMES):
            info, points, calib, labels = _prepare_frame(root, split_dir, sample_idx, labelled, reduced_done)
            ignored[name].update(obj["type"] for obj in labels if obj["type"] not in KITTI_CLASSES)
            if name == "train":
                group_counter = _add_to_database(database, root, info, points, calib, labels, group_counter)
            data_lists[name].append(info)
    data_lists["trainval"] = data_lists["train"] + data_lists["val"]
    ignored["trainval"] = ignored["train"] | ignored["val"]

    files = []
    for name, data_list in data_lists.items():
        write_json_atomic(root / INFO_NAME.format(split=name), dict(metainfo=_metainfo(ignored[name]), data_list=data_list))
        files.append(INFO_NAME.format(split=name))
    write_json_atomic(root / DBINFO_NAME, database)
    files.append(DBINFO_NAME)
    summary = dict(splits={name: _split_summary(data_list) for name, data_list in data_lists.items()},
                   gt_database={name: len(entries) for name, entries in sorted(database.items())}, files=files)
    write_json_atomic(root / _META_NAME, dict(fingerprint=fingerprint, complete=True, summary=summary), indent=2)
    return dict(summary, root=str(root), generated=True)

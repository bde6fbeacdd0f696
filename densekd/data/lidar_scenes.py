"""Synthetic LiDAR street scenes written as KITTI object-benchmark frames (see densekd.data.kitti).

A scene is a straight street seen from a car: a flat ground plane 1.73 m below the sensor (road
with lane marks, sidewalks, verges), building blocks, poles, trees, bins, bollards and hedges
(unlabelled clutter), and labelled Cars (a body, a glass cabin and four wheels), Pedestrians
(legs, torso, head) and Cyclists (bike + rider), every part inside its labelled 3D box. Cars
mostly drive along the road in both directions or park at its edges, some cross; pedestrians
walk on sidewalks or cross; cyclists ride near the road edge. Objects are placed at
``min_range``..``max_range`` m ahead, ``|y| <= max_lateral``, inside (or at the edge of) camera
2's field of view, without overlapping each other or the clutter.

The point cloud comes from a simulated spinning LiDAR (HDL-64E-like: ``beams`` beams evenly from
+2 to -24.8 deg elevation, an ``azimuth_step`` grid) by vectorised ray casting in numpy. Only the
front +-50 deg of azimuth are cast (camera 2 sees about +-41 deg and KITTI's tools keep only the
camera-frustum points), so the velodyne .bin holds that front sector, not the full 360 deg. Each
primitive (yawed box: slab test in its own frame; vertical cylinder: quadratic + caps) is cast
only against the block of rays its azimuth / elevation bounds can reach; the nearest hit wins, so
objects occlude each other and the clutter, and far objects get fewer points by geometry. Range
noise (sigma ``range_noise``), 0.5 % dropped returns, porous tree crowns, and a reflectance per
material + noise in [0, 1] complete the points (x, y, z, reflectance), float32.

Labels (label_2): objects whose projected box (the 8 LiDAR corners through P2 @ R0_rect @
Tr_velo_to_cam) reaches the image. ``truncated`` = fraction of the unclipped 2D box outside the
image; ``occluded`` from the fraction of the object's own rays that hit something nearer first:
<= 10 % -> 0, <= 50 % -> 1, else 2. An object with fewer than ``MIN_LABEL_POINTS`` returns inside
the camera frustum is written as DontCare (2D box only), as KITTI marks regions it did not label.
Every frame gets its own calibration: KITTI's 2011_09_26 one with a small random rotation
(~0.2 deg) and shift (~1 cm) of Tr_velo_to_cam and R0_rect, so the transforms are exercised.
The image (1242 x 375) is a sky/ground backdrop with the frustum points coloured by depth; the
road plane (planes/, as KITTI's separate download) is the flat ground in each frame's camera frame.
"""
import math
import re
from collections import namedtuple
from pathlib import Path

import numpy as np
from PIL import Image

from densekd.data.kitti import (
    KITTI_IMAGE_SIZE, KITTI_REFERENCE_CALIB, camera_frustum_mask, image_boxes_and_truncation, kitti_difficulty,
    lidar_box_corners, lidar_boxes_to_camera, lidar_to_camera, project_to_image, to_homogeneous, wrap_angle,
    write_calib, write_label, write_plane, write_velodyne,
)
from densekd.data.manifest import read_json_or_none, write_json_atomic
from densekd.data.synthetic import SPLITS, adds_only_the_test_split, check_int, check_split_sizes, item_rng
from ..core.errors import InvalidValue

__all__ = ["LIDAR_HEIGHT", "CLASS_SIZES", "LidarSpec", "BoxPart", "CylinderPart", "object_parts",
           "scan_entities", "scan_objects", "render_frame", "make_lidar_scenes"]

LIDAR_HEIGHT = 1.73  # sensor above the ground (m); the ground is z = -1.73 in the LiDAR frame
GROUND_Z = -LIDAR_HEIGHT
CLASS_SIZES = {"Car": (3.9, 1.6, 1.56), "Pedestrian": (0.8, 0.6, 1.73), "Cyclist": (1.76, 0.6, 1.73)}  # l, w, h
MIN_LABEL_POINTS = 5
OCCLUSION_LEVELS = (0.1, 0.5)  # blocked-ray fraction limits of occluded 0 and 1
MIN_RANGE = 4.0
EMPTY_SCENE_FRACTION = 0.03

BoxPart = namedtuple("BoxPart", "cx cy z0 z1 half_length half_width yaw reflectance porosity")
CylinderPart = namedtuple("CylinderPart", "cx cy z0 z1 radius reflectance porosity")
LidarSpec = namedtuple("LidarSpec", "beams elevation_deg azimuth_deg azimuth_step_deg max_range range_noise dropout",
                       defaults=(64, (2.0, -24.8), 50.0, 0.2, 120.0, 0.02, 0.005))
LidarSpec.__doc__ = ("The simulated scanner: beams evenly over elevation_deg (top, bottom), azimuth in "
                     "+-azimuth_deg at azimuth_step_deg, returns up to max_range m, range noise sigma (m), "
                     "dropped-return probability.")

_FORMAT_VERSION = 2
_META_NAME = "lidar_scenes_meta.json"
_SPLIT_DIRS = {"train": "training", "val": "training", "test": "testing"}  # KITTI's folders
_FRAME_FILE = re.compile(r"\d{6}\.(bin|txt|png)")
_FRAME_DIRS = {"velodyne": ".bin", "label_2": ".txt", "calib": ".txt", "image_2": ".png", "planes": ".txt"}
_CAMERA_HALF_FOV = math.radians(41.0)


# ---- ray casting -------------------------------------------------------------------------------------

class _Rays:
    """The scanner's ray grid: (B,) elevations x (A,) azimuths (ascending), unit directions."""

    def __init__(self, spec):
        self.spec = spec
        self.elevation = np.radians(np.linspace(spec.elevation_deg[0], spec.elevation_deg[1], spec.beams))
        half = spec.azimuth_deg
        self.azimuth = np.radians(np.arange(-half, half + spec.azimuth_step_deg / 2, spec.azimuth_step_deg))
        self.cos_e, self.sin_e = np.cos(self.elevation), np.sin(self.elevation)
        self.cos_a, self.sin_a = np.cos(self.azimuth), np.sin(self.azimuth)
        self.shape = (len(self.elevation), len(self.azimuth))

    def directions(self):
        """(B, A, 3) unit ray directions."""
        return np.stack([self.cos_e[:, None] * self.cos_a[None], self.cos_e[:, None] * self.sin_a[None],
                         np.broadcast_to(self.sin_e[:, None], self.shape)], axis=-1)

    def block(self, azimuth_range, elevation_range):
        """(row slice, column slice) of the rays within the given (low, high) angle ranges."""
        cols = slice(np.searchsorted(self.azimuth, azimuth_range[0]),
                     np.searchsorted(self.azimuth, azimuth_range[1], side="right"))
        descending = -self.elevation
        rows = slice(np.searchsorted(descending, -elevation_range[1]),
                     np.searchsorted(descending, -elevation_range[0], side="right"))
        return rows, cols


def _footprint_corners(part):
    """(4, 2) BEV corners of a BoxPart."""
    cos, sin = math.cos(part.yaw), math.sin(part.yaw)
    local = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [part.half_length, part.half_width]
    return local @ np.array([[cos, sin], [-sin, cos]]) + [part.cx, part.cy]


def _part_angles(part):
    """((az low, az high), (el low, high)) bounds of the rays that can hit a part (all at x > 0)."""
    if isinstance(part, BoxPart):
        corners = _footprint_corners(part)
        azimuths = np.arctan2(corners[:, 1], corners[:, 0])
        reach = math.hypot(part.half_length, part.half_width)
        az = (azimuths.min() - 1e-4, azimuths.max() + 1e-4)
    else:
        reach = part.radius
        centre = math.atan2(part.cy, part.cx)
        spread = math.asin(min(1.0, part.radius / max(math.hypot(part.cx, part.cy), 1e-6)))
        az = (centre - spread - 1e-4, centre + spread + 1e-4)
    distance = math.hypot(part.cx, part.cy)
    near, far = max(distance - reach, 0.05), distance + reach
    elevations = [math.atan2(z, r) for z in (part.z0, part.z1) for r in (near, far)]
    return az, (min(elevations) - 1e-4, max(elevations) + 1e-4)


def _hit_box(part, cos_e, sin_e, azimuth):
    """Ray distances (R, C) to a yawed box (inf: miss) for rays (R,) elevations x (C,) azimuths."""
    cos_y, sin_y = math.cos(part.yaw), math.sin(part.yaw)
    origin = (-(part.cx * cos_y + part.cy * sin_y), -(-part.cx * sin_y + part.cy * cos_y))
    dx = cos_e[:, None] * np.cos(azimuth - part.yaw)[None]
    dy = cos_e[:, None] * np.sin(azimuth - part.yaw)[None]
    dz = np.broadcast_to(sin_e[:, None], dx.shape)
    near = np.full(dx.shape, -np.inf)
    far = np.full(dx.shape, np.inf)
    for d, o, low, high in ((dx, origin[0], -part.half_length, part.half_length),
                            (dy, origin[1], -part.half_width, part.half_width), (dz, 0.0, part.z0, part.z1)):
        d = np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1, t2 = (low - o) / d, (high - o) / d
        near = np.maximum(near, np.minimum(t1, t2))
        far = np.minimum(far, np.maximum(t1, t2))
    return np.where((near <= far) & (near > 0), near, np.inf)


def _hit_cylinder(part, cos_e, sin_e, azimuth):
    """Ray distances (R, C) to a vertical cylinder with caps (inf: miss)."""
    a = (cos_e ** 2)[:, None]
    b = cos_e[:, None] * (np.cos(azimuth) * part.cx + np.sin(azimuth) * part.cy)[None]
    c = part.cx ** 2 + part.cy ** 2 - part.radius ** 2
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        side = (b - np.sqrt(disc)) / a
        z = side * sin_e[:, None]
        side = np.where((disc >= 0) & (side > 0) & (z >= part.z0) & (z <= part.z1), side, np.inf)
        cap_z = np.where(sin_e < 0, part.z1, part.z0)[:, None]
        cap = cap_z / sin_e[:, None]
        hx = cap * cos_e[:, None] * np.cos(azimuth)[None] - part.cx
        hy = cap * cos_e[:, None] * np.sin(azimuth)[None] - part.cy
        cap = np.where((cap > 0) & (hx * hx + hy * hy <= part.radius ** 2), cap, np.inf)
    return np.minimum(side, cap)


def _ground_reflectance(points, road):
    """(N,) reflectance of ground hits (N, 3): asphalt, lane marks, sidewalk, verge."""
    if road is None:
        return np.full(len(points), 0.2)
    along, across = _to_road(points[:, 0], points[:, 1], road)
    half = road["half_width"]
    out = np.where(np.abs(across) <= half, 0.12, np.where(np.abs(across) <= half + road["sidewalk"], 0.26, 0.38))
    lanes = road["lane_width"] * np.arange(-road["lanes"], road["lanes"] + 1)
    near_mark = np.min(np.abs(across[:, None] - lanes[None]), axis=1) < 0.08
    dashed = (np.floor(along / 3.0) % 2 == 0) | (np.abs(across) > 0.5)
    return np.where(near_mark & dashed & (np.abs(across) <= road["lanes"] * road["lane_width"]), 0.65, out)


def scan_entities(entities, rng, spec=LidarSpec(), road=None):
    """Ray-cast entities (lists of BoxPart / CylinderPart) and the ground -> dict of

    ``points`` (N, 4) float32 (x, y, z, reflectance), ``owner`` (N,) int32 (-1 ground, else the
    entity index), ``rays_hit`` (E,) rays each entity intersects (occluded or not), ``rays_visible``
    (E,) rays on which it is the nearest hit.
    """
    rays = _Rays(spec)
    distance = np.full(rays.shape, np.inf)
    owner = np.full(rays.shape, -2, dtype=np.int64)
    reflectance = np.zeros(rays.shape)
    down = rays.sin_e < 0
    distance[down] = GROUND_Z / rays.sin_e[down, None]
    owner[down] = -1
    blocks = []
    for index, parts in enumerate(entities):
        block = _cast_entity(parts, rays, rng)
        if block is None:
            blocks.append(None)
            continue
        rows, cols, hit, refl = block
        nearer = hit < distance[rows, cols]
        distance[rows, cols] = np.where(nearer, hit, distance[rows, cols])
        owner[rows, cols] = np.where(nearer, index, owner[rows, cols])
        reflectance[rows, cols] = np.where(nearer, refl, reflectance[rows, cols])
        blocks.append((rows, cols, hit))
    rays_hit, rays_visible = _ray_counts(blocks, owner, spec.max_range)
    keep = (distance <= spec.max_range) & (rng.random(rays.shape) >= spec.dropout)
    measured = distance[keep] + rng.normal(0.0, spec.range_noise, int(keep.sum()))
    xyz = rays.directions()[keep] * measured[:, None]
    refl = reflectance[keep]
    ground = owner[keep] == -1
    refl[ground] = _ground_reflectance(xyz[ground], road)
    refl = np.clip(refl + rng.normal(0.0, 0.03, len(refl)), 0.0, 1.0)
    points = np.concatenate([xyz, refl[:, None]], axis=1).astype(np.float32)
    return dict(points=points, owner=owner[keep].astype(np.int32), rays_hit=rays_hit, rays_visible=rays_visible)


def _cast_entity(parts, rays, rng):
    """One entity's nearest-hit distances and reflectances on the ray block its parts can reach."""
    bounds = [_part_angles(part) for part in parts]
    az = (min(b[0][0] for b in bounds), max(b[0][1] for b in bounds))
    el = (min(b[1][0] for b in bounds), max(b[1][1] for b in bounds))
    rows, cols = rays.block(az, el)
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return None
    cos_e, sin_e, azimuth = rays.cos_e[rows], rays.sin_e[rows], rays.azimuth[cols]
    hit = np.full((len(cos_e), len(azimuth)), np.inf)
    refl = np.zeros_like(hit)
    for part in parts:
        cast = _hit_box if isinstance(part, BoxPart) else _hit_cylinder
        t = cast(part, cos_e, sin_e, azimuth)
        if part.porosity > 0:
            t = np.where(rng.random(t.shape) < part.porosity, np.inf, t)
        nearer = t < hit
        hit = np.where(nearer, t, hit)
        refl = np.where(nearer, part.reflectance, refl)
    return rows, cols, hit, refl


def _ray_counts(blocks, owner, max_range):
    """Per entity: rays it intersects within range, and rays on which it is the nearest hit."""
    rays_hit = np.zeros(len(blocks), dtype=np.int64)
    rays_visible = np.zeros(len(blocks), dtype=np.int64)
    for index, block in enumerate(blocks):
        if block is not None:
            rows, cols, hit = block
            within = hit <= max_range
            rays_hit[index] = within.sum()
            rays_visible[index] = (within & (owner[rows, cols] == index)).sum()
    return rays_hit, rays_visible


# ---- objects -----------------------------------------------------------------------------------------

def _placed(box, along, across, z0, z1, half_length, half_width, reflectance, kind="box", porosity=0.0):
    """A part at (along, across) in the object's frame of LiDAR box (x, y, z_bottom, l, w, h, yaw)."""
    x, y, zb, yaw = box[0], box[1], box[2], box[6]
    cx = x + along * math.cos(yaw) - across * math.sin(yaw)
    cy = y + along * math.sin(yaw) + across * math.cos(yaw)
    if kind == "cylinder":
        return CylinderPart(cx, cy, zb + z0, zb + z1, half_length, reflectance, porosity)
    return BoxPart(cx, cy, zb + z0, zb + z1, half_length, half_width, yaw, reflectance, porosity)


def _car_parts(box, rng):
    length, width, height = box[3], box[4], box[5]
    inset, paint = 0.04, rng.uniform(0.2, 0.7)
    hl, hw = length / 2 - inset, width / 2 - inset
    parts = [_placed(box, 0.0, 0.0, 0.28, 0.58 * height, hl, hw, paint),
             _placed(box, -0.06 * length, 0.0, 0.58 * height, height - inset, 0.26 * length, hw - 0.08,
                     rng.uniform(0.04, 0.12))]
    for along in (0.3 * length, -0.3 * length):
        for side in (1, -1):
            parts.append(_placed(box, along, side * (hw - 0.11), 0.01, 0.6, 0.3, 0.1, 0.05))
    return parts


def _pedestrian_parts(box, rng):
    length, width, height = box[3], box[4], box[5]
    inset, cloth = 0.04, rng.uniform(0.1, 0.5)
    stride = rng.uniform(-1, 1) * (length / 2 - inset - 0.1)
    parts = [_placed(box, side * stride, side * 0.1, 0.01, 0.5 * height, 0.08, 0, cloth, "cylinder")
             for side in (1, -1)]
    parts.append(_placed(box, 0.0, 0.0, 0.48 * height, 0.83 * height, 0.13, min(0.23, width / 2 - inset), cloth))
    parts.append(_placed(box, 0.0, 0.0, 0.84 * height, height - 0.02, 0.1, 0, 0.3, "cylinder"))
    return parts


def _cyclist_parts(box, rng):
    length, width, height = box[3], box[4], box[5]
    inset, cloth, metal = 0.04, rng.uniform(0.1, 0.5), rng.uniform(0.4, 0.7)
    wheel = min(0.33, length / 4 - inset)
    parts = [_placed(box, side * (length / 2 - inset - wheel), 0.0, 0.01, 2 * wheel, wheel, 0.03, 0.08)
             for side in (1, -1)]
    parts.append(_placed(box, 0.0, 0.0, 0.35, 0.75, 0.35, 0.03, metal))
    parts.append(_placed(box, length / 2 - inset - 0.45, 0.0, 0.9, 1.0, 0.04, min(0.25, width / 2 - inset), metal))
    parts.append(_placed(box, -0.05, 0.0, 0.45, 0.95, 0.15, 0.14, cloth))
    parts.append(_placed(box, 0.0, 0.0, 0.95, 0.82 * height + 0.05, 0.18, min(0.2, width / 2 - inset), cloth))
    parts.append(_placed(box, 0.08, 0.0, 0.84 * height + 0.05, height - 0.02, 0.1, 0, 0.3, "cylinder"))
    return parts


_PART_BUILDERS = {"Car": _car_parts, "Pedestrian": _pedestrian_parts, "Cyclist": _cyclist_parts}


def object_parts(name, box, rng):
    """The parts (BoxPart / CylinderPart, all inside the box) of a Car, Pedestrian or Cyclist whose
    LiDAR box is (x, y, z_bottom, l, w, h, yaw)."""
    if name not in _PART_BUILDERS:
        raise InvalidValue(f"unknown object class {name!r}; the generator makes {', '.join(_PART_BUILDERS)}")
    return _PART_BUILDERS[name](tuple(float(v) for v in box), rng)


def scan_objects(boxes, names, seed=0, spec=LidarSpec(), clutter=()):
    """Scan labelled objects (LiDAR boxes (K, 7), names) over the ground, plus optional clutter entities;
    returns :func:`scan_entities`' dict (objects are entities 0..K-1) with ``points_per_object`` (K,)."""
    rng = np.random.default_rng(seed)
    entities = [object_parts(name, box, rng) for name, box in zip(names, np.asarray(boxes).reshape(-1, 7))]
    scan = scan_entities(entities + list(clutter), rng, spec)
    scan["points_per_object"] = np.bincount(scan["owner"][scan["owner"] >= 0], minlength=len(entities) +
                                            len(clutter))[:len(entities)]
    return scan


# ---- scene layout ------------------------------------------------------------------------------------

def _to_road(x, y, road):
    """LiDAR (x, y) -> (along, across) road coordinates (across > 0: left of the road centre)."""
    cos, sin = math.cos(road["heading"]), math.sin(road["heading"])
    dy = np.asarray(y) - road["offset"]
    return np.asarray(x) * cos + dy * sin, -np.asarray(x) * sin + dy * cos


def _from_road(along, across, road):
    """Road (along, across) -> LiDAR (x, y)."""
    cos, sin = math.cos(road["heading"]), math.sin(road["heading"])
    return along * cos - across * sin, road["offset"] + along * sin + across * cos


def _plan_road(rng):
    lanes = int(rng.choice([1, 1, 2]))
    lane_width = rng.uniform(3.0, 3.6)
    parking = rng.random() < 0.6
    return dict(heading=rng.normal(0.0, 0.04), offset=rng.uniform(-2.5, 2.5), lanes=lanes, lane_width=lane_width,
                parking=parking, half_width=lanes * lane_width + (2.2 if parking else 0.3),
                sidewalk=rng.uniform(2.0, 4.0))


def _rectangles_overlap(a, b):
    """Separating-axis test of two BEV rectangles given as (4, 2) corner arrays."""
    for corners in (a, b):
        for i in range(2):
            edge = corners[i + 1] - corners[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def _box_footprint(box, margin):
    part = BoxPart(box[0], box[1], 0, 0, box[3] / 2 + margin, box[4] / 2 + margin, box[6], 0, 0)
    return _footprint_corners(part)


def _part_footprint(part):
    if isinstance(part, BoxPart):
        return _footprint_corners(part)
    r = part.radius
    return np.array([[part.cx + r, part.cy + r], [part.cx + r, part.cy - r],
                     [part.cx - r, part.cy - r], [part.cx - r, part.cy + r]])


def _clutter(rng, road, max_range):
    """Unlabelled entities: building blocks, poles, trees, bins / bollards and hedges."""
    entities = []
    edge, sidewalk = road["half_width"], road["sidewalk"]
    end = max_range + 40.0
    for side in (1, -1):
        along = rng.uniform(0.0, 6.0) + 2.0
        while along < end:
            length = rng.uniform(6.0, 30.0)
            setback, depth = rng.uniform(0.0, 3.0), rng.uniform(4.0, 12.0)
            across = side * (edge + sidewalk + setback + depth / 2)
            x, y = _from_road(along + length / 2, across, road)
            entities.append([BoxPart(x, y, GROUND_Z, GROUND_Z + rng.uniform(3.0, 15.0), length / 2, depth / 2,
                                     road["heading"], rng.uniform(0.15, 0.45), 0.0)])
            along += length + (rng.uniform(2.0, 10.0) if rng.random() < 0.5 else 0.0)
        along = rng.uniform(3.0, 15.0)
        while along < end:
            x, y = _from_road(along, side * (edge + 0.4), road)
            if rng.random() < 0.7:
                entities.append([CylinderPart(x, y, GROUND_Z, GROUND_Z + rng.uniform(3.5, 8.0),
                                              rng.uniform(0.07, 0.15), rng.uniform(0.45, 0.75), 0.0)])
            along += rng.uniform(12.0, 25.0)
        along = rng.uniform(5.0, 15.0)
        while along < end:
            if rng.random() < 0.5:
                x, y = _from_road(along, side * (edge + rng.uniform(0.9, max(sidewalk - 0.5, 1.0))), road)
                trunk = rng.uniform(2.2, 3.2)
                entities.append([CylinderPart(x, y, GROUND_Z, GROUND_Z + trunk, rng.uniform(0.12, 0.3), 0.3, 0.0),
                                 CylinderPart(x, y, GROUND_Z + trunk, GROUND_Z + trunk + rng.uniform(2.0, 4.0),
                                              rng.uniform(1.0, 2.5), rng.uniform(0.35, 0.55), 0.35)])
            along += rng.uniform(8.0, 20.0)
        if rng.random() < 0.3:
            start, length = rng.uniform(5.0, 25.0), rng.uniform(5.0, 20.0)
            x, y = _from_road(start + length / 2, side * (edge + sidewalk - 0.3), road)
            entities.append([BoxPart(x, y, GROUND_Z, GROUND_Z + rng.uniform(0.6, 1.2), length / 2, 0.3,
                                     road["heading"], rng.uniform(0.3, 0.5), 0.2)])
    for _ in range(rng.poisson(2.5)):
        side = rng.choice([1, -1])
        x, y = _from_road(rng.uniform(5.0, max_range), side * (edge + rng.uniform(0.5, sidewalk)), road)
        if rng.random() < 0.5:
            entities.append([CylinderPart(x, y, GROUND_Z, GROUND_Z + rng.uniform(0.7, 1.2), rng.uniform(0.08, 0.2),
                                          rng.uniform(0.3, 0.7), 0.0)])
        else:
            entities.append([BoxPart(x, y, GROUND_Z, GROUND_Z + rng.uniform(0.5, 1.3), rng.uniform(0.2, 1.2),
                                     rng.uniform(0.2, 0.5), road["heading"] + rng.normal(0, 0.3),
                                     rng.uniform(0.1, 0.6), 0.0)])
    return entities


def _object_size(name, rng):
    mean = CLASS_SIZES[name]
    spread = {"Car": (0.25, 0.08, 0.08), "Pedestrian": (0.1, 0.06, 0.08), "Cyclist": (0.1, 0.05, 0.06)}[name]
    return [float(np.clip(rng.normal(m, s), m - 2.5 * s, m + 2.5 * s)) for m, s in zip(mean, spread)]


def _object_pose(name, rng, road):
    """(along, across, yaw) of one object by its role: lane / parked / crossing car, sidewalk / crossing
    pedestrian, edge / crossing cyclist."""
    heading, lanes, lane = road["heading"], road["lanes"], road["lane_width"]
    crossing = heading + rng.choice([np.pi / 2, -np.pi / 2]) + rng.normal(0, 0.15)
    along_road = heading + rng.normal(0, 0.04)
    if name == "Car":
        role = rng.choice(["lane", "parked", "crossing"], p=[0.55, 0.3, 0.15] if road["parking"] else [0.8, 0, 0.2])
        if role == "crossing":
            return rng.uniform(-lanes * lane, lanes * lane), crossing
        if role == "parked":
            side = rng.choice([1, -1])
            return side * (road["half_width"] - 1.1), along_road + (np.pi if rng.random() < 0.3 else 0)
        k = rng.integers(lanes)
        side = rng.choice([1, -1])
        return side * (k + 0.5) * lane + rng.normal(0, 0.25), along_road + (np.pi if side > 0 else 0)
    if name == "Pedestrian":
        if rng.random() < 0.2:
            return rng.uniform(-road["half_width"], road["half_width"]), crossing
        side = rng.choice([1, -1])
        across = side * (road["half_width"] + rng.uniform(0.4, road["sidewalk"] - 0.3))
        yaw = along_road + rng.choice([0, np.pi]) if rng.random() < 0.6 else rng.uniform(-np.pi, np.pi)
        return across, yaw
    if rng.random() < 0.15:
        return rng.uniform(-lanes * lane, lanes * lane), crossing
    side = rng.choice([1, -1])
    return side * (lanes * lane - 0.7), along_road + (np.pi if side > 0 else 0)


def _place_objects(rng, road, clutter, max_range, max_lateral):
    """Labelled objects: (names, (K, 7) LiDAR boxes) placed without overlaps, in front of the camera."""
    if rng.random() < EMPTY_SCENE_FRACTION:
        return [], np.zeros((0, 7))
    wanted = ["Car"] * min(rng.poisson(5.0), 12) + ["Pedestrian"] * min(rng.poisson(2.0), 8) + \
             ["Cyclist"] * min(rng.poisson(1.2), 5)
    rng.shuffle(wanted)
    obstacles = [_part_footprint(p) for parts in clutter for p in parts if p.z0 < GROUND_Z + 2.1]
    names, boxes = [], []
    for name in wanted:
        length, width, height = _object_size(name, rng)
        for _ in range(30):
            x = rng.uniform(MIN_RANGE, max_range)
            across, yaw = _object_pose(name, rng, road)
            along, _ = _to_road(x, road["offset"], road)
            x, y = _from_road(float(along), across, road)
            box = np.array([x, y, GROUND_Z, length, width, height, float(wrap_angle(yaw))])
            corners = lidar_box_corners(box)[0]
            if corners[:, 0].min() < 1.0 or abs(y) > max_lateral or not MIN_RANGE <= x <= max_range:
                continue
            if np.abs(np.arctan2(corners[:, 1], corners[:, 0])).min() > _CAMERA_HALF_FOV:
                continue
            footprint = _box_footprint(box, 0.25)
            if any(_rectangles_overlap(footprint, other) for other in obstacles):
                continue
            names.append(name)
            boxes.append(box)
            obstacles.append(footprint)
            break
    return names, np.array(boxes).reshape(-1, 7)


# ---- a frame: calibration, labels, image --------------------------------------------------------------

def _rotation(rx, ry, rz):
    """(3, 3) rotation from small angles (rad) about x, y, z."""
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    return (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
            @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))


def _nearest_rotation(matrix):
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    return u @ vt


def _frame_calib(rng):
    """KITTI's reference calibration with a small random rotation / shift of Tr_velo_to_cam and R0_rect."""
    calib = {key: np.array(value, dtype=np.float64) for key, value in KITTI_REFERENCE_CALIB.items()}
    velo = calib["Tr_velo_to_cam"]
    velo[:, :3] = _rotation(*rng.normal(0, math.radians(0.2), 3)) @ _nearest_rotation(velo[:, :3])
    velo[:, 3] += rng.normal(0, 0.01, 3)
    calib["R0_rect"] = _rotation(*rng.normal(0, math.radians(0.05), 3)) @ _nearest_rotation(calib["R0_rect"])
    return calib


def _occlusion_level(rays_hit, rays_visible):
    """KITTI occlusion 0 / 1 / 2 from the fraction of an object's rays blocked by nearer things."""
    blocked = 1.0 - rays_visible / max(rays_hit, 1)
    return 0 if blocked <= OCCLUSION_LEVELS[0] else 1 if blocked <= OCCLUSION_LEVELS[1] else 2


def _labels(names, boxes, scan, calib, frustum):
    """label_2 dicts of the objects that reach the image; DontCare (last) for those with too few points."""
    lidar2cam = lidar_to_camera(calib)
    lidar2img = to_homogeneous(calib["P2"]) @ lidar2cam
    corners_uv, _ = project_to_image(lidar_box_corners(boxes), lidar2img)
    bboxes, truncation = image_boxes_and_truncation(corners_uv, KITTI_IMAGE_SIZE)
    camera_boxes = lidar_boxes_to_camera(boxes, lidar2cam)
    frustum_counts = np.bincount(scan["owner"][frustum & (scan["owner"] >= 0)], minlength=len(names))
    labelled, dont_care = [], []
    for k, name in enumerate(names):
        if truncation[k] >= 1.0:
            continue
        bbox = [round(float(v), 2) for v in bboxes[k]]
        if frustum_counts[k] < MIN_LABEL_POINTS:
            dont_care.append(dict(type="DontCare", truncated=-1, occluded=-1, alpha=-10, bbox=bbox,
                                  dimensions=[-1, -1, -1], location=[-1000, -1000, -1000], rotation_y=-10))
            continue
        x, y, z, length, height, width, ry = camera_boxes[k]
        labelled.append(dict(
            type=name, truncated=float(truncation[k]), bbox=bbox, dimensions=[height, width, length],
            occluded=_occlusion_level(scan["rays_hit"][k], scan["rays_visible"][k]),
            alpha=float(wrap_angle(ry - math.atan2(x, z))), location=[x, y, z], rotation_y=float(ry)))
    return labelled + dont_care


_DEPTH_COLOURS = np.array([[255, 40, 30], [255, 200, 0], [60, 220, 60], [0, 170, 255], [90, 40, 200]], float)


def _render_image(points, calib, rng):
    """A (375, 1242, 3) uint8 image: sky / ground backdrop, frustum points coloured by depth (2x2 px)."""
    height, width = KITTI_IMAGE_SIZE
    lidar2img = to_homogeneous(calib["P2"]) @ lidar_to_camera(calib)
    horizon = float(np.clip(project_to_image(np.array([1e4, 0.0, GROUND_Z]), lidar2img)[0][1], 0, height))
    rows = np.arange(height, dtype=np.float64)[:, None]
    sky = np.array([105, 150, 205]) + (rows / max(horizon, 1)) * np.array([80, 55, 20])
    ground = np.array([95, 92, 88]) - ((rows - horizon) / max(height - horizon, 1)) * np.array([35, 35, 35])
    image = np.where(rows < horizon, sky, ground)[:, None, :].repeat(width, axis=1)
    image += rng.normal(0, 3.0, (height, 1, 1))
    uv, depth = project_to_image(points[:, :3], lidar2img)
    order = np.argsort(-depth)
    uv, depth, refl = uv[order], depth[order], points[order, 3]
    position = np.clip(depth / 60.0, 0, 1) * (len(_DEPTH_COLOURS) - 1)
    colour = np.stack([np.interp(position, np.arange(len(_DEPTH_COLOURS)), _DEPTH_COLOURS[:, c]) for c in range(3)], 1)
    colour *= (0.6 + 0.4 * refl)[:, None]
    u, v = uv[:, 0].astype(np.int64), uv[:, 1].astype(np.int64)
    for du in (0, 1):
        for dv in (0, 1):
            ok = (u + du >= 0) & (u + du < width) & (v + dv >= 0) & (v + dv < height)
            image[v[ok] + dv, u[ok] + du] = colour[ok]
    return np.clip(image, 0, 255).astype(np.uint8)


def render_frame(seed, split, index, max_range=40.0, max_lateral=20.0, spec=LidarSpec()):
    """One synthetic frame, depending only on (seed, split, index) and the arguments -> dict of
    ``points`` (N, 4) float32, ``owner`` (N,), ``names``, ``boxes`` (K, 7) LiDAR boxes of every placed
    object (labelled or not), ``labels`` (label_2 dicts), ``calib``, ``image`` (375, 1242, 3) uint8."""
    rng = item_rng(seed, split, index)
    calib = _frame_calib(rng)
    road = _plan_road(rng)
    clutter = _clutter(rng, road, max_range)
    names, boxes = _place_objects(rng, road, clutter, max_range, max_lateral)
    entities = [object_parts(name, box, rng) for name, box in zip(names, boxes)] + clutter
    scan = scan_entities(entities, rng, spec, road)
    frustum = camera_frustum_mask(scan["points"], calib, KITTI_IMAGE_SIZE)
    labels = _labels(names, boxes, scan, calib, frustum)
    image = _render_image(scan["points"][frustum], calib, rng)
    return dict(points=scan["points"], owner=scan["owner"], names=names, boxes=boxes, labels=labels,
                calib=calib, image=image)


# ---- the dataset -------------------------------------------------------------------------------------

def _validate(num_train, num_val, num_test, seed, max_range, max_lateral, beams, azimuth_step):
    check_split_sizes(num_train, num_val, num_test)
    check_int("seed", seed, 0)
    check_int("beams", beams, 4, 256)
    if not 10.0 <= float(max_range) <= 80.0:
        raise InvalidValue(f"max_range must be in [10, 80] m, got {max_range}")
    if not 5.0 <= float(max_lateral) <= 40.0:
        raise InvalidValue(f"max_lateral must be in [5, 40] m, got {max_lateral}")
    if not 0.05 <= float(azimuth_step) <= 1.0:
        raise InvalidValue(f"azimuth_step must be in [0.05, 1] degrees, got {azimuth_step}")


def _frame_ids(args):
    """{split: [frame ids]}: train frames first, then val, then test (in testing/), so no two share an id."""
    first = {"train": 0, "val": args["num_train"], "test": args["num_train"] + args["num_val"]}
    return {split: list(range(first[split], first[split] + args[f"num_{split}"])) for split in SPLITS}


def _remove_stale(root, split_dir):
    """Delete this generator's frame files (and the derived velodyne_reduced) in ``split_dir`` from an earlier run."""
    for folder in (*_FRAME_DIRS, "velodyne_reduced"):
        directory = root / split_dir / folder
        if directory.is_dir():
            for path in directory.iterdir():
                if _FRAME_FILE.fullmatch(path.name):
                    path.unlink()


def ground_plane(calib):
    """The flat ground z = -LIDAR_HEIGHT as a KITTI road plane [a, b, c, d] in the rectified camera frame."""
    lidar2cam = lidar_to_camera(calib)
    normal = lidar2cam[:3, :3] @ np.array([0.0, 0.0, 1.0])  # up, in the camera frame (about -y)
    point = lidar2cam[:3, :3] @ np.array([0.0, 0.0, GROUND_Z]) + lidar2cam[:3, 3]
    return [*normal.tolist(), float(-normal @ point)]


def _write_frame(root, split_dir, frame_id, frame):
    stem = f"{frame_id:06d}"
    folder = root / split_dir
    write_velodyne(folder / "velodyne" / f"{stem}.bin", frame["points"])
    write_label(folder / "label_2" / f"{stem}.txt", frame["labels"])
    write_calib(folder / "calib" / f"{stem}.txt", frame["calib"])
    write_plane(folder / "planes" / f"{stem}.txt", ground_plane(frame["calib"]))
    Image.fromarray(frame["image"]).save(folder / "image_2" / f"{stem}.png", compress_level=1)


def _read_meta(root):
    return read_json_or_none(root / _META_NAME)


def _splits_present(root, args, splits):
    """Whether every frame file of ``splits`` is on disk."""
    ids = _frame_ids(args)
    return all((root / _SPLIT_DIRS[split] / folder / f"{frame_id:06d}{suffix}").is_file()
               for split in splits for frame_id in ids[split] for folder, suffix in _FRAME_DIRS.items())


def _write_meta(root, args, summary, complete):
    write_json_atomic(root / _META_NAME, dict(args=args, complete=complete, summary=summary), indent=2)


def _split_summary(frames):
    """Frames, objects and moderate objects (KITTI's moderate: easy or moderate) per class, DontCare, empty
    frames, moderate share and mean points of a split's frames."""
    counts, moderate, dont_care, empty, points = {}, {}, 0, 0, 0
    for labels, num_points in frames:
        empty += not labels
        points += num_points
        cared = [obj for obj in labels if obj["type"] != "DontCare"]
        dont_care += len(labels) - len(cared)
        difficulty = kitti_difficulty([obj["bbox"][3] - obj["bbox"][1] for obj in cared],
                                      [obj["occluded"] for obj in cared], [obj["truncated"] for obj in cared])
        for obj, level in zip(cared, difficulty):
            counts[obj["type"]] = counts.get(obj["type"], 0) + 1
            moderate[obj["type"]] = moderate.get(obj["type"], 0) + int(level in (0, 1))
    total = sum(counts.values())
    return dict(frames=len(frames), objects=counts, moderate=moderate, dont_care=dont_care, empty_frames=empty,
                moderate_fraction=round(sum(moderate.values()) / total, 4) if total else 0.0,
                points_per_frame=round(points / max(len(frames), 1), 1))


def _write_splits(root, args, splits, spec):
    """Render and write the frames of ``splits`` and their ImageSets file; returns {split: summary}."""
    summary = {}
    for split, ids in _frame_ids(args).items():
        if split not in splits:
            continue
        frames = []
        for index, frame_id in enumerate(ids):
            frame = render_frame(args["seed"], split, index, args["max_range"], args["max_lateral"], spec)
            _write_frame(root, _SPLIT_DIRS[split], frame_id, frame)
            frames.append((frame["labels"], len(frame["points"])))
        summary[split] = _split_summary(frames)
        (root / "ImageSets" / f"{split}.txt").write_text("".join(f"{i:06d}\n" for i in ids))
    return summary


def make_lidar_scenes(root, num_train=200, num_val=80, num_test=300, seed=0, max_range=40.0, max_lateral=20.0,
                      beams=64, azimuth_step=0.2):
    """Write synthetic LiDAR scenes in the KITTI object layout under ``root``; return a summary dict.

    Frames 000000.. are train, the next ``num_val`` val (the tuning split), both in ``training/`` as in
    KITTI (ImageSets/{train,val,trainval}.txt). The next ``num_test`` frames are test, the report split:
    in ``testing/`` as KITTI's test split (ImageSets/test.txt), but with ``label_2`` (KITTI withholds its
    test labels), so that :func:`densekd.data.kitti.prepare_kitti` writes ``kitti_infos_test.json`` with
    annotations and mmdet3d's KittiDataset / KittiMetric read and score it as they do val. Frame ids run on
    across the splits, so no two frames share an id. Each frame depends only on (seed, split, index within
    the split) and the arguments; the same arguments give byte-identical files. The summary is ``{'root',
    'train': {'frames', 'objects': {class: n}, 'moderate': {class: n}, 'dont_care', 'empty_frames',
    'moderate_fraction', 'points_per_frame'}, 'val': {...}, 'test': {...}, 'generated'}``; ``generated`` is
    False when ``root/lidar_scenes_meta.json`` shows this exact dataset is there (nothing rewritten). A
    dataset that differs only in its test split (e.g. one made before there was one) gets the test split
    written and keeps its train and val frames. A ``root`` with ``training/`` but no such meta file (real
    KITTI?) is refused with a ValueError. Run :func:`densekd.data.kitti.prepare_kitti` next.
    """
    _validate(num_train, num_val, num_test, seed, max_range, max_lateral, beams, azimuth_step)
    root = Path(root)
    args = dict(format_version=_FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                num_test=int(num_test), seed=int(seed), max_range=float(max_range), max_lateral=float(max_lateral),
                beams=int(beams), azimuth_step=float(azimuth_step))
    meta = _read_meta(root)
    finished = meta["args"] if meta and meta.get("complete") else None
    if finished == args and _splits_present(root, args, SPLITS):
        return dict(meta["summary"], root=str(root), generated=False)
    if meta is None and (root / "training").exists():
        raise InvalidValue(f"{root} holds training/ but no {_META_NAME}: it was not written by "
                           f"make_lidar_scenes (real KITTI?); refusing to write into it")
    spec = LidarSpec(beams=int(beams), azimuth_step_deg=float(azimuth_step))
    if adds_only_the_test_split(finished, args) and _splits_present(root, args, ("train", "val")):
        splits, summary = ("test",), meta["summary"]  # the old meta stays until the test split is written
    else:
        root.mkdir(parents=True, exist_ok=True)
        _write_meta(root, args, None, complete=False)  # an interrupted generation must not look complete
        splits, summary = SPLITS, {}
    for split_dir in {_SPLIT_DIRS[split] for split in splits}:
        _remove_stale(root, split_dir)
        for folder in _FRAME_DIRS:
            (root / split_dir / folder).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets").mkdir(exist_ok=True)
    summary.update(_write_splits(root, args, splits, spec))
    if "train" in splits:
        ids = _frame_ids(args)
        (root / "ImageSets" / "trainval.txt").write_text("".join(f"{i:06d}\n" for i in ids["train"] + ids["val"]))
    _write_meta(root, args, summary, complete=True)
    return dict(summary, root=str(root), generated=True)

"""Synthetic street scenes written in the Cityscapes layout (see densekd.data.cityscapes)::

    root/leftImg8bit/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png        RGB
    root/gtFine/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png       official ids
    root/gtFine/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds.png  0..18, 255
    root/street_scenes_meta.json    arguments + summary (per-class pixel frequencies), to skip regeneration

Each split has its own cities, as in the release (train: aachen, bremen; val, the tuning split:
frankfurt; test, the report split: berlin, munich, Cityscapes test cities). Unlike the release's test
split, the synthetic one has labels. The generator writes ``*_gtFine_labelIds.png`` and then runs
:func:`densekd.data.cityscapes.convert_label_ids`, the path real data takes.

The scenes are a street seen from a car-mounted camera: a pinhole camera over a flat
ground plane (x right, y up, z forward, metres), a road narrowing to the vanishing point with
sidewalks either side, buildings with windows along both sides and across the far end, trees,
hedges, grass, fences and walls, street lamps, sign posts and traffic lights, parked and moving
cars, occasional trucks, buses and trams, pedestrians, cyclists and motorcyclists, painted far to
near. Each class has a colour distribution (class colours + per-instance jitter + texture noise
+ haze with distance + a lighting gradient + slight blur), so appearance helps but does not
decide; thin and distant things (poles, signs, far persons) are a few pixels at 128x256. The
bottom rows are the ego vehicle's bonnet (label 'ego vehicle', trainId 255).
"""
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from densekd.data.cityscapes import (
    CITYSCAPES_CLASSES, IGNORE_INDEX, IMAGE_SUFFIX, LABEL_IDS, LABEL_IDS_SUFFIX, TRAIN_IDS_SUFFIX, convert_label_ids,
    label_ids_to_train_ids,
)
from densekd.data.manifest import read_json_or_none, write_json_atomic
from densekd.data.synthetic import SPLITS, adds_only_the_test_split, check_int, check_split_sizes, item_rng
from ..core.errors import InvalidValue

__all__ = ["STREET_SCENE_CITIES", "make_street_scenes"]

STREET_SCENE_CITIES = {"train": ("aachen", "bremen"), "val": ("frankfurt",), "test": ("berlin", "munich")}
_FRAME = 19  # gtFine annotates the 20th frame of each 30-frame snippet
_FORMAT_VERSION = 1
_META_NAME = "street_scenes_meta.json"
_FILE_PATTERN = re.compile(r"[a-z]+_\d{6}_\d{6}_(leftImg8bit|gtFine_labelIds|gtFine_labelTrainIds)\.png")

# Mean colours (RGB) an instance draws from; a tuple of several means is a palette to pick from.
_COLOURS = {
    "sky": ((128, 165, 212), (178, 192, 208), (208, 212, 218)),
    "road": ((88, 86, 92), (100, 98, 100), (76, 76, 82)),
    "marking": ((212, 212, 205),),
    "sidewalk": ((150, 138, 138), (164, 150, 134), (132, 128, 134), (170, 160, 150)),
    "curb": ((178, 174, 170),),
    "building": ((186, 170, 144), (148, 148, 150), (206, 200, 190), (158, 96, 72), (200, 180, 126),
                 (120, 114, 108), (170, 150, 130)),
    "roof": ((84, 84, 90), (140, 72, 52), (110, 64, 50)),
    "window": ((52, 60, 74), (70, 78, 90), (40, 44, 50)),
    "wall": ((166, 160, 150), (142, 122, 102), (122, 120, 118)),
    "fence": ((68, 72, 70), (126, 100, 74), (150, 150, 146)),
    "pole": ((116, 118, 122), (68, 74, 72), (150, 150, 152)),
    "vegetation": ((66, 96, 42), (50, 78, 38), (88, 108, 50), (58, 84, 56)),
    "trunk": ((84, 72, 58),),
    "terrain": ((112, 134, 74), (134, 120, 90), (98, 118, 68)),
    "car": ((24, 24, 28), (214, 214, 214), (160, 162, 166), (100, 102, 106), (40, 56, 102),
            (150, 32, 32), (62, 80, 64), (190, 176, 142)),
    "glass": ((40, 46, 56),),
    "tyre": ((24, 24, 24),),
    "truck": ((220, 220, 216), (180, 182, 186), (60, 90, 140), (170, 50, 40)),
    "bus": ((214, 196, 44), (196, 48, 40), (226, 226, 224), (40, 96, 160)),
    "train": ((226, 226, 220), (200, 40, 40), (236, 200, 40)),
    "clothes": ((30, 30, 34), (84, 86, 92), (200, 200, 196), (150, 36, 40), (40, 50, 88),
                (90, 96, 60), (110, 78, 56), (170, 150, 120), (100, 130, 170)),
    "trousers": ((44, 54, 80), (30, 30, 32), (88, 88, 94), (156, 138, 110)),
    "skin": ((204, 164, 134), (150, 110, 84), (226, 190, 164)),
    "hair": ((40, 32, 26), (90, 70, 50), (180, 160, 120)),
    "bike": ((40, 40, 44), (150, 30, 30), (40, 70, 130), (190, 190, 190)),
    "motorbike": ((30, 30, 34), (160, 20, 20), (20, 60, 140), (190, 190, 196)),
    "light body": ((36, 38, 36),),
    "static": ((60, 70, 62), (90, 90, 94), (120, 96, 70)),
    "ego": ((34, 36, 42),),
}
# Per-label texture: (fine pixel noise sigma, low-frequency blotch amplitude), in grey levels.
_TEXTURES = {
    "sky": (1.5, 5.0), "road": (6.0, 9.0), "sidewalk": (8.0, 8.0), "building": (6.0, 8.0),
    "wall": (7.0, 8.0), "fence": (6.0, 5.0), "pole": (4.0, 3.0), "traffic light": (4.0, 2.0),
    "traffic sign": (3.0, 2.0), "vegetation": (16.0, 22.0), "terrain": (11.0, 14.0),
    "person": (6.0, 4.0), "rider": (6.0, 4.0), "car": (4.0, 3.0), "truck": (5.0, 4.0),
    "bus": (4.0, 3.0), "train": (4.0, 3.0), "motorcycle": (5.0, 3.0), "bicycle": (4.0, 2.0),
}
_DEFAULT_TEXTURE = (6.0, 4.0)
_GROUND = -1.0  # instance depth flag: depth from the image row (flat ground)


def _tone(rng, key, spread=10.0, scale=1.0):
    """One instance colour: a mean from ``_COLOURS[key]``, brightness and per-channel jitter."""
    means = _COLOURS[key]
    mean = np.asarray(means[int(rng.integers(len(means)))], dtype=np.float64)
    colour = mean * rng.uniform(0.88, 1.12) * scale + rng.normal(0.0, spread, 3)
    return np.minimum(np.maximum(colour, 0.0), 255.0)


def _vary(rng, colour, spread=6.0, scale=1.0):
    """A part of an instance: ``colour`` scaled, with a little jitter."""
    colour = np.asarray(colour, dtype=np.float64) * scale + rng.normal(0.0, spread, 3)
    return np.minimum(np.maximum(colour, 0.0), 255.0)


class _Camera:
    """Pinhole camera at height ``h`` over the ground plane; image x right, y down."""

    def __init__(self, f, h, vx, vy, width, height):
        self.f, self.h, self.vx, self.vy = f, h, vx, vy
        self.width, self.height = width, height

    def project(self, points):
        """(N, 3) world points (x right, y up, z forward; metres) -> (N, 2) image points."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        scale = self.f / np.maximum(p[:, 2], 0.05)
        xy = np.empty((len(p), 2))
        xy[:, 0] = self.vx + p[:, 0] * scale
        xy[:, 1] = self.vy + (self.h - p[:, 1]) * scale
        return np.minimum(np.maximum(xy, -1e4, out=xy), 1e4, out=xy)  # np.clip is slow on tiny arrays

    def pixels(self, metres, z):
        """Size in pixels of ``metres`` seen face-on at depth ``z``."""
        return self.f * metres / max(z, 0.05)


class _Canvas:
    """Paints primitives into an instance-index image; each primitive is an instance with its own
    label id, colour, texture and depth, turned into the RGB image and label map by :meth:`render`."""

    def __init__(self, cam, sky_colour):
        self.cam = cam
        self.label_ids = [LABEL_IDS["sky"]]
        self.colours = [tuple(sky_colour)]
        self.textures = [_TEXTURES["sky"]]
        self.depths = [0.0]
        self.index = Image.new("I", (cam.width, cam.height), 0)
        self.shade = Image.new("L", (cam.width, cam.height), 255)
        self._draw = ImageDraw.Draw(self.index)
        self._shade_draw = ImageDraw.Draw(self.shade)

    def _new(self, label, colour, depth):
        self.label_ids.append(LABEL_IDS[label])
        self.colours.append(tuple(float(c) for c in colour))
        self.textures.append(_TEXTURES.get(label, _DEFAULT_TEXTURE))
        self.depths.append(float(depth))
        return len(self.label_ids) - 1

    def polygon(self, xy, label, colour, depth):
        """Fill the image polygon ``xy`` (N, 2); returns the new instance index."""
        index = self._new(label, colour, depth)
        self._draw.polygon(np.asarray(xy, dtype=np.float64).ravel().tolist(), fill=index)
        return index

    def face(self, points, label, colour, depth=None):
        """Fill the projection of the planar 3D polygon ``points`` (N, 3)."""
        points = np.asarray(points, dtype=np.float64)
        if depth is None:
            depth = float(points[:, 2].min())
        return self.polygon(self.cam.project(points), label, colour, depth)

    def sprite(self, shape, x0, y0, z, label, colour):
        """Fill a polygon given in metres (N, 2), offset by (x0, y0), standing face-on at depth z."""
        shape = np.asarray(shape, dtype=np.float64)
        points = np.column_stack([shape[:, 0] + x0, shape[:, 1] + y0, np.full(len(shape), z)])
        return self.face(points, label, colour, depth=z)

    def ellipse(self, x, y, z, rx, ry, label, colour, width_m=None):
        """A face-on ellipse (centre and radii in metres) at depth z; outlined when ``width_m``."""
        (u, v), = self.cam.project([(x, y, z)])
        ru, rv = max(self.cam.pixels(rx, z), 0.5), max(self.cam.pixels(ry, z), 0.5)
        index = self._new(label, colour, z)
        box = [u - ru, v - rv, u + ru, v + rv]
        if width_m is None:
            self._draw.ellipse(box, fill=index)
        else:
            self._draw.ellipse(box, outline=index, width=max(1, round(self.cam.pixels(width_m, z))))
        return index

    def segment(self, p0, p1, z, width_m, label, colour):
        """A face-on line from ``p0`` to ``p1`` ((x, y) metres) at depth z, at least 1 px wide."""
        a, b = self.cam.project([(*p0, z), (*p1, z)])
        index = self._new(label, colour, z)
        self._draw.line([tuple(a), tuple(b)], fill=index, width=max(1, round(self.cam.pixels(width_m, z))))
        return index

    def shadow(self, points, strength):
        """Darken the projection of the 3D polygon ``points`` by ``strength`` (0..1), whatever lies there."""
        xy = self.cam.project(points)
        self._shade_draw.polygon(xy.ravel().tolist(), fill=int(round(255 * (1.0 - strength))))

    def render(self, rng, haze_colour, haze_distance, sky_glow, light):
        """The RGB image (H, W, 3) uint8 and the label-id map (H, W) uint8; ``light`` (H, W, 3)."""
        cam = self.cam
        h, w = cam.height, cam.width
        index = np.asarray(self.index, dtype=np.int64)
        labels = np.asarray(self.label_ids, dtype=np.uint8)[index]
        colour = np.asarray(self.colours, dtype=np.float32)[index]
        fine, blotch = np.asarray(self.textures, dtype=np.float32).T
        depth = np.asarray(self.depths, dtype=np.float32)[index]

        rows = np.arange(h, dtype=np.float32)[:, None] + 0.5
        ground_depth = np.where(rows > cam.vy + 0.5, cam.f * cam.h / np.maximum(rows - cam.vy, 0.5), 1e3)
        depth = np.where(depth == _GROUND, np.broadcast_to(ground_depth, (h, w)), depth)
        sky = labels == LABEL_IDS["sky"]
        # the sky brightens towards the horizon
        glow = np.clip(1.0 - (cam.vy - rows) / max(cam.vy, 1.0), 0.0, 1.0)
        colour = colour + sky[..., None] * (glow[..., None] * np.asarray(sky_glow, dtype=np.float32))

        # texture: fine grain (mostly luminance) and low-frequency blotches
        grain = rng.normal(0.0, 1.0, (h, w, 1)).astype(np.float32) + \
            0.35 * rng.normal(0.0, 1.0, (h, w, 3)).astype(np.float32)
        colour = colour + grain * fine[index][..., None]
        colour = colour + _blotches(rng, h, w)[..., None] * blotch[index][..., None]

        # haze with distance, then the lighting (gradient, exposure, shadows)
        haze = (1.0 - np.exp(-np.clip(depth, 0.0, 1e3) / haze_distance))[..., None]
        colour = colour * (1.0 - haze) + np.asarray(haze_colour, dtype=np.float32) * haze
        shade = np.asarray(self.shade, dtype=np.float32)[..., None] / 255.0
        colour = colour * shade * light
        image = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
        return image, labels


def _blotches(rng, h, w):
    """(h, w) smooth noise of unit-ish amplitude: coarse plus medium scale."""
    out = np.zeros((h, w), dtype=np.float32)
    for cells, weight in ((8, 0.7), (3, 0.5)):
        grid = rng.normal(0.0, 1.0, (h // cells + 2, w // cells + 2)).astype(np.float32)
        up = Image.fromarray(grid, mode="F").resize((w + 2 * cells, h + 2 * cells), Image.BILINEAR)
        out += weight * np.asarray(up)[cells: cells + h, cells: cells + w]
    return out


# ---- scene elements ------------------------------------------------------------------------------
# Each draws one object into the canvas; ``s`` is the street side (-1 left, +1 right).

def _box_face_x(x, y0, y1, z0, z1):
    """(4, 3) corners of a rectangle in the plane x = const (along the street)."""
    return [(x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0)]


def _box_face_z(x0, x1, y0, y1, z):
    """(4, 3) corners of a rectangle in the plane z = const (facing the camera)."""
    return [(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)]


def _ground_quad(x0, x1, z0, z1):
    return [(x0, 0.0, z0), (x1, 0.0, z0), (x1, 0.0, z1), (x0, 0.0, z1)]


def _draw_windows(cv, rng, corners, colour, depth):
    """Fill the (n, 4, 3) window rectangles that project to at least about 1 x 2 pixels."""
    cam = cv.cam
    if len(corners) == 0:
        return
    xy = cam.project(corners.reshape(-1, 3)).reshape(-1, 4, 2)
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    size = hi - lo
    keep = (size[:, 0] >= 1.0) & (size[:, 1] >= 1.6) & (hi[:, 0] >= 0) & (lo[:, 0] < cam.width) \
        & (hi[:, 1] >= 0) & (lo[:, 1] < cam.height)
    if not keep.any():
        return
    lit = rng.random(len(xy)) < 0.08
    scale = rng.uniform(0.8, 1.25, len(xy))
    for k in np.flatnonzero(keep):
        c = _vary(rng, (190, 170, 120) if lit[k] else colour, 8.0, 1.0 if lit[k] else scale[k])
        cv.polygon(xy[k], "building", c, depth)


def _draw_facade(cv, rng, s, x, z0, z1, height, colour):
    """A building along the street: facade, end wall, cornice, optional roof, shop floor, windows."""
    depth = max(z0, 0.5)
    if z0 > 1.0:  # the end wall facing the camera, darker
        cv.face(_box_face_z(x, x + s * 12.0, 0.0, height, z0), "building", _vary(rng, colour, 5, 0.72), depth)
    # a pitched roof rising away from the street (5 m out, 3.5 m up), drawn only where the
    # camera sees its upper side: 3.5 |x| > 5 (height - camera height)
    if rng.random() < 0.35 and 3.5 * abs(x) > 5.0 * (height - cv.cam.h):
        roof = _tone(rng, "roof", 8)
        cv.face([(x, height, z0), (x, height, z1), (x + s * 5, height + 3.5, z1), (x + s * 5, height + 3.5, z0)],
                "building", roof, depth)
    cv.face(_box_face_x(x, 0.0, height, z0, z1), "building", colour, depth)
    cv.face(_box_face_x(x, height - 0.5, height, z0, z1), "building", _vary(rng, colour, 5, 0.8), depth)
    window = _tone(rng, "window", 6)
    ground_floor = 0.0
    if rng.random() < 0.5:  # shop front: its own colour and large windows
        ground_floor = rng.uniform(3.0, 4.0)
        shop = _vary(rng, _tone(rng, "building"), 8, 0.85)
        cv.face(_box_face_x(x, 0.0, ground_floor, z0, z1), "building", shop, depth)
        starts = np.arange(z0 + 0.8, z1 - 2.5, rng.uniform(3.2, 4.5))
        shops = np.array([_box_face_x(x, 0.4, ground_floor - 0.5, a, a + 2.3) for a in starts]).reshape(-1, 4, 3)
        _draw_windows(cv, rng, shops, window, depth)
    floor_h = rng.uniform(2.9, 3.6)
    win_w, win_h, spacing = rng.uniform(0.9, 1.4), rng.uniform(1.2, 1.7), rng.uniform(2.2, 3.2)
    floors = np.arange(max(ground_floor, 0.0) + 0.9, height - win_h - 0.8, floor_h)
    columns = np.arange(z0 + rng.uniform(0.6, 1.6), z1 - win_w - 0.4, spacing)
    if len(floors) and len(columns):
        yy, zz = (a.ravel() for a in np.meshgrid(floors, columns, indexing="ij"))
        xs = np.full_like(yy, x)
        corners = np.stack([
            np.stack([xs, yy, zz], 1), np.stack([xs, yy, zz + win_w], 1),
            np.stack([xs, yy + win_h, zz + win_w], 1), np.stack([xs, yy + win_h, zz], 1),
        ], axis=1)
        _draw_windows(cv, rng, corners, window, depth)


def _draw_backdrop_building(cv, rng, x0, x1, z, height):
    colour = _tone(rng, "building", 12)
    cv.face(_box_face_z(x0, x1, 0.0, height, z), "building", colour)
    window = _tone(rng, "window", 6)
    floors = np.arange(1.0, height - 2.0, 3.2)
    columns = np.arange(x0 + 0.8, x1 - 1.6, 2.6)
    if len(floors) and len(columns):
        yy, xx = (a.ravel() for a in np.meshgrid(floors, columns, indexing="ij"))
        zs = np.full_like(yy, z)
        corners = np.stack([np.stack([xx, yy, zs], 1), np.stack([xx + 1.2, yy, zs], 1),
                            np.stack([xx + 1.2, yy + 1.5, zs], 1), np.stack([xx, yy + 1.5, zs], 1)], 1)
        _draw_windows(cv, rng, corners, window, z)


def _draw_tree(cv, rng, x, z, trunk_height, crown_radius):
    """Trunk plus a crown of overlapping blobs; all of it is 'vegetation', as in Cityscapes."""
    trunk = _tone(rng, "trunk", 8)
    half = rng.uniform(0.1, 0.2)
    top = trunk_height + crown_radius * 0.6
    cv.sprite([(-half, 0), (half, 0), (half * 0.7, top), (-half * 0.7, top)], x, 0.0, z, "vegetation", trunk)
    leaves = _tone(rng, "vegetation", 10)
    cy = trunk_height + crown_radius
    for _ in range(int(rng.integers(4, 8))):
        dx, dy = rng.normal(0.0, 0.45 * crown_radius, 2)
        r = crown_radius * rng.uniform(0.5, 0.8)
        cv.ellipse(x + dx, cy + dy * 0.8, z, r, r * rng.uniform(0.8, 1.1), "vegetation",
                   _vary(rng, leaves, 8, rng.uniform(0.8, 1.15)))


def _draw_hedge(cv, rng, s, x, z0, z1, height):
    """A hedge along the street: its street-side face and, below eye level, its top."""
    colour = _tone(rng, "vegetation", 10, 0.9)
    if height < cv.cam.h:
        cv.face([(x, height, z0), (x, height, z1), (x + s * 0.8, height, z1), (x + s * 0.8, height, z0)],
                "vegetation", _vary(rng, colour, 5, 1.15))
    cv.face(_box_face_x(x, 0.0, height, z0, z1), "vegetation", colour)


def _draw_wall(cv, rng, s, x, z0, z1, height):
    colour = _tone(rng, "wall", 10)
    if height < cv.cam.h:  # its top, seen from above
        cv.face([(x, height, z0), (x, height, z1), (x + s * 0.3, height, z1), (x + s * 0.3, height, z0)],
                "wall", _vary(rng, colour, 5, 1.12))
    if z0 > 1.0:
        cv.face(_box_face_z(x, x + s * 0.3, 0.0, height, z0), "wall", _vary(rng, colour, 5, 0.8))
    cv.face(_box_face_x(x, 0.0, height, z0, z1), "wall", colour)


def _draw_fence(cv, rng, s, x, z0, z1, height):
    """A solid board fence, or a railing of posts, two rails and pickets (see-through)."""
    colour = _tone(rng, "fence", 10)
    if rng.random() < 0.4:
        cv.face(_box_face_x(x, 0.0, height, z0, z1), "fence", colour)
        for z in np.arange(z0, min(z1, 40.0), 2.5):
            cv.face(_box_face_x(x, 0.0, height, z, z + 0.12), "fence", _vary(rng, colour, 4, 0.75))
        return
    for z in np.arange(z0, min(z1, 80.0), 0.35 if z0 < 25 else 0.7):
        cv.segment((x, 0.0), (x, height), z, 0.03, "fence", _vary(rng, colour, 4))
    for y0 in (height - 0.08, 0.25):
        cv.face(_box_face_x(x, y0, y0 + 0.07, z0, z1), "fence", colour)
    for z in np.arange(z0, z1, 2.5):
        cv.sprite([(-0.05, 0), (0.05, 0), (0.05, height + 0.05), (-0.05, height + 0.05)], x, 0.0, z, "fence",
                  _vary(rng, colour, 4, 0.9))


def _draw_pole(cv, rng, x, z, height, half_width, colour):
    cv.sprite([(-half_width, 0), (half_width, 0), (half_width * 0.8, height), (-half_width * 0.8, height)],
              x, 0.0, z, "pole", colour)


def _draw_street_lamp(cv, rng, s, x, z):
    """A tall pole with an arm over the road and a lamp head (the whole lamp is 'pole')."""
    height = rng.uniform(6.0, 9.0)
    colour = _tone(rng, "pole", 10)
    _draw_pole(cv, rng, x, z, height, rng.uniform(0.07, 0.13), colour)
    arm = rng.uniform(0.8, 2.0)
    cv.segment((x, height - 0.1), (x - s * arm, height + 0.25), z, 0.07, "pole", colour)
    cv.sprite([(-0.35, -0.12), (0.35, -0.12), (0.3, 0.08), (-0.3, 0.08)], x - s * arm, height + 0.2, z - 0.01,
              "pole", _vary(rng, colour, 6, 0.9))


def _draw_sign(cv, rng, x, y, z):
    """A traffic sign face-on at (x, y) (its centre, metres) and depth z."""
    kind = int(rng.integers(5))
    if kind == 0:  # round, red ring on white
        r = rng.uniform(0.28, 0.36)
        cv.ellipse(x, y, z, r, r, "traffic sign", _vary(rng, (190, 34, 38), 12))
        cv.ellipse(x, y, z - 0.01, r * 0.74, r * 0.74, "traffic sign", _vary(rng, (222, 222, 218), 10))
    elif kind == 1:  # round, blue
        r = rng.uniform(0.28, 0.36)
        cv.ellipse(x, y, z, r, r, "traffic sign", _vary(rng, (30, 76, 160), 12))
    elif kind == 2:  # triangle, red border on white
        a = rng.uniform(0.38, 0.48)
        tri = np.array([(-a, -0.55 * a), (a, -0.55 * a), (0.0, 1.2 * a)])
        cv.sprite(tri, x, y, z, "traffic sign", _vary(rng, (190, 34, 38), 12))
        cv.sprite(tri * 0.65, x, y, z - 0.01, "traffic sign", _vary(rng, (222, 222, 218), 10))
    elif kind == 3:  # rectangle, blue with a white field
        a, b = rng.uniform(0.3, 0.45), rng.uniform(0.25, 0.35)
        cv.sprite([(-a, -b), (a, -b), (a, b), (-a, b)], x, y, z, "traffic sign", _vary(rng, (32, 84, 170), 12))
        cv.sprite([(-a * 0.5, -b * 0.5), (a * 0.5, -b * 0.5), (a * 0.5, b * 0.5), (-a * 0.5, b * 0.5)],
                  x, y, z - 0.01, "traffic sign", _vary(rng, (225, 225, 225), 10))
    else:  # yellow diamond with a white rim
        a = rng.uniform(0.3, 0.4)
        cv.sprite([(0, -a), (a, 0), (0, a), (-a, 0)], x, y, z, "traffic sign", _vary(rng, (225, 225, 220), 10))
        cv.sprite([(0, -0.75 * a), (0.75 * a, 0), (0, 0.75 * a), (-0.75 * a, 0)], x, y, z - 0.01,
                  "traffic sign", _vary(rng, (232, 190, 30), 12))


def _draw_sign_post(cv, rng, x, z):
    height = rng.uniform(2.2, 3.2)
    _draw_pole(cv, rng, x, z, height, rng.uniform(0.03, 0.06), _tone(rng, "pole", 12))
    _draw_sign(cv, rng, x, height, z - 0.02)
    if rng.random() < 0.3:
        _draw_sign(cv, rng, x, height - 0.75, z - 0.02)


def _draw_traffic_light_box(cv, rng, x, y, z, facing):
    """A three-lamp traffic light hanging down from (x, y); lit when facing the camera."""
    body = _tone(rng, "light body", 6)
    hw, hh = rng.uniform(0.15, 0.2), rng.uniform(0.45, 0.52)
    if rng.random() < 0.4:  # back plate
        cv.sprite([(-hw * 1.7, -hh * 1.15), (hw * 1.7, -hh * 1.15), (hw * 1.7, hh * 1.15), (-hw * 1.7, hh * 1.15)],
                  x, y - hh, z + 0.02, "traffic light", _vary(rng, body, 5, 1.1))
    cv.sprite([(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)], x, y - hh, z, "traffic light", body)
    if not facing:
        return
    lit = int(rng.integers(3))
    lamps = ((220, 40, 30), (235, 170, 30), (40, 210, 110))
    for k, lamp in enumerate(lamps):
        bright = lamp if k == lit else tuple(c * 0.25 + 30 for c in lamp)
        cv.ellipse(x, y - hh + (1 - k) * hh * 0.62, z - 0.01, hw * 0.55, hw * 0.55, "traffic light",
                   _vary(rng, bright, 6))


def _draw_traffic_light_post(cv, rng, s, x, z):
    height = rng.uniform(2.8, 3.8)
    colour = _tone(rng, "pole", 10)
    _draw_pole(cv, rng, x, z, height + 1.0, rng.uniform(0.05, 0.09), colour)
    _draw_traffic_light_box(cv, rng, x, height + 1.0, z - 0.02, facing=True)
    if rng.random() < 0.35:  # an arm over the road with a second light
        reach = rng.uniform(2.5, 5.0)
        cv.segment((x, height + 0.9), (x - s * reach, height + 0.9), z, 0.08, "pole", colour)
        _draw_traffic_light_box(cv, rng, x - s * reach, height + 0.9, z - 0.02, facing=True)


def _draw_car(cv, rng, xc, z, facing_away):
    """A car whose near end is at depth z: body, cabin with windows, wheels, lights, plate."""
    width, height, length = rng.uniform(1.7, 1.95), rng.uniform(1.4, 1.6), rng.uniform(3.9, 4.8)
    if rng.random() < 0.2:  # van / SUV
        height, length = rng.uniform(1.7, 2.1), rng.uniform(4.4, 5.2)
    paint = _tone(rng, "car", 8)
    glass = _tone(rng, "glass", 6)
    tyre = _tone(rng, "tyre", 4)
    x0, x1 = xc - width / 2, xc + width / 2
    belt = height * rng.uniform(0.52, 0.6)
    c0 = z + length * rng.uniform(0.18, 0.26)  # where the cabin starts
    c1 = z + length * rng.uniform(0.72, 0.8)
    # the side the camera sees
    side = x0 if x0 > 0.2 else (x1 if x1 < -0.2 else None)
    if side is not None:
        inward = 1.0 if side == x0 else -1.0
        cv.face(_box_face_x(side, 0.22, belt, z, z + length), "car", _vary(rng, paint, 4, 0.82), z)
        cv.face(_box_face_x(side + inward * 0.12, belt, height * 0.96, c0 - 0.2, c1 + 0.1), "car",
                _vary(rng, paint, 4, 0.9), z)
        cv.face([(side + inward * 0.1, belt + 0.03, c0 - 0.1), (side + inward * 0.1, belt + 0.03, c1),
                 (side + inward * 0.14, height * 0.92, c1 - 0.35), (side + inward * 0.14, height * 0.92, c0 + 0.25)],
                "car", glass, z)
        for wz in (z + 0.75, z + length - 0.85):
            # a wheel on the side, foreshortened by the angle the side is seen at
            cv.ellipse(side, 0.32, wz, 0.32 * min(abs(side) / max(wz, 0.5), 1.0), 0.32, "car", tyre)
    if belt + 0.05 < cv.cam.h:  # trunk lid, seen from above
        cv.face([(x0, belt, z), (x1, belt, z), (x1 - 0.05, belt + 0.05, c0), (x0 + 0.05, belt + 0.05, c0)],
                "car", _vary(rng, paint, 4, 1.08), z)
    # cabin end with its window
    cv.face([(x0 + 0.08, belt, c0 - 0.15), (x1 - 0.08, belt, c0 - 0.15), (x1 - 0.2, height, c0 + 0.3),
             (x0 + 0.2, height, c0 + 0.3)], "car", _vary(rng, paint, 4, 0.95), z)
    cv.face([(x0 + 0.2, belt + 0.05, c0 - 0.1), (x1 - 0.2, belt + 0.05, c0 - 0.1),
             (x1 - 0.28, height * 0.93, c0 + 0.25), (x0 + 0.28, height * 0.93, c0 + 0.25)], "car", glass, z)
    # wheels under the end face, then the end face, bumper, lights and plate
    for a in (x0 + 0.08, x1 - 0.33):
        cv.face(_box_face_z(a, a + 0.25, 0.0, 0.3, z + 0.5), "car", tyre, z)
    cv.face(_box_face_z(x0, x1, 0.22, belt, z), "car", paint, z)
    cv.face(_box_face_z(x0, x1, 0.22, 0.42, z - 0.02), "car", _vary(rng, paint, 4, 0.6), z)
    light = (200, 30, 30) if facing_away else (230, 228, 210)
    for a in (x0 + 0.05, x1 - 0.33):
        cv.face(_box_face_z(a, a + 0.28, belt - 0.2, belt - 0.06, z - 0.03), "car", _vary(rng, light, 10), z)
    cv.face(_box_face_z(xc - 0.26, xc + 0.26, 0.45, 0.57, z - 0.03), "car", _vary(rng, (225, 225, 225), 6), z)


def _draw_big_vehicle(cv, rng, label, xc, z, facing_away):
    """Truck, bus or tram: a tall box with its visible side, windows and wheels."""
    width = {"truck": 2.45, "bus": 2.55, "train": 2.65}[label]
    height = {"truck": rng.uniform(3.0, 3.8), "bus": rng.uniform(2.9, 3.3), "train": rng.uniform(3.2, 3.5)}[label]
    length = {"truck": rng.uniform(7.0, 10.0), "bus": rng.uniform(11.0, 13.0), "train": rng.uniform(25.0, 35.0)}[label]
    bottom = 0.5 if label == "train" else 0.3
    paint = _tone(rng, label, 8)
    glass = _tone(rng, "glass", 6)
    tyre = _tone(rng, "tyre", 4)
    x0, x1 = xc - width / 2, xc + width / 2
    side = x0 if x0 > 0.2 else (x1 if x1 < -0.2 else None)
    if side is not None:
        cv.face(_box_face_x(side, bottom, height, z, z + length), label, _vary(rng, paint, 4, 0.85), z)
        if label in ("bus", "train"):
            step = 1.6 if label == "bus" else 2.2
            for a in np.arange(z + 0.6, z + length - 1.2, step):
                cv.face(_box_face_x(side, height * 0.42, height * 0.84, a, a + step - 0.25), label, glass, z)
        if label == "train":  # a coloured stripe
            cv.face(_box_face_x(side, height * 0.3, height * 0.36, z, z + length), label,
                    _vary(rng, (190, 40, 40), 10), z)
        if label != "train":
            for wz in (z + 1.2, z + length - 1.8):
                cv.face(_box_face_x(side, 0.0, 0.55, wz, wz + 1.0), label, tyre, z)
    for a in (x0 + 0.1, x1 - 0.45):
        cv.face(_box_face_z(a, a + 0.35, 0.0, bottom + 0.2, z + 0.6), label, tyre, z)
    cv.face(_box_face_z(x0, x1, bottom, height, z), label, paint, z)
    if label == "truck":
        if facing_away:  # cargo doors
            cv.face(_box_face_z(x0 + 0.1, xc - 0.03, bottom + 0.6, height - 0.1, z - 0.02), label,
                    _vary(rng, paint, 5, 0.93), z)
            cv.face(_box_face_z(xc + 0.03, x1 - 0.1, bottom + 0.6, height - 0.1, z - 0.02), label,
                    _vary(rng, paint, 5, 0.93), z)
        else:  # cab windscreen
            cv.face(_box_face_z(x0 + 0.15, x1 - 0.15, height * 0.55, height * 0.85, z - 0.02), label, glass, z)
    else:  # bus / tram: a big window in the end face
        top = 0.5 if facing_away and label == "bus" else 0.35
        cv.face(_box_face_z(x0 + 0.15, x1 - 0.15, height * top, height * 0.9, z - 0.02), label, glass, z)
    cv.face(_box_face_z(x0, x1, bottom, bottom + 0.35, z - 0.03), label, _vary(rng, paint, 4, 0.55), z)


def _person_parts(height, stride, swing):
    """Polygons (metres, feet at y = 0) of a standing / walking person: legs, torso, arms, head."""
    hip, shoulder = 0.5 * height, 0.81 * height
    leg = 0.075 * height
    parts = {"legs": [], "torso": None, "arms": [], "head": None}
    for sign in (-1, 1):
        foot = sign * (0.035 * height + stride / 2)
        top = sign * 0.045 * height
        parts["legs"].append([(foot - leg / 2, 0), (foot + leg / 2, 0), (top + leg / 2, hip + 0.05),
                              (top - leg / 2, hip + 0.05)])
        hand = sign * (0.13 * height) + sign * swing
        arm = 0.05 * height
        parts["arms"].append([(sign * 0.12 * height - arm / 2, shoulder), (sign * 0.12 * height + arm / 2, shoulder),
                              (hand + arm / 2, hip - 0.04 * height), (hand - arm / 2, hip - 0.04 * height)])
    parts["torso"] = [(-0.1 * height, hip), (0.1 * height, hip), (0.135 * height, shoulder),
                      (0.05 * height, shoulder + 0.04 * height), (-0.05 * height, shoulder + 0.04 * height),
                      (-0.135 * height, shoulder)]
    parts["head"] = (0.0, 0.92 * height, 0.055 * height, 0.07 * height)
    return parts


def _draw_person(cv, rng, x, z):
    """A pedestrian (1 in 10 a child) standing or walking, face-on at depth z."""
    height = rng.uniform(1.1, 1.35) if rng.random() < 0.1 else rng.uniform(1.55, 1.92)
    label = "person"
    parts = _person_parts(height, stride=rng.uniform(-0.12, 0.12) * height, swing=rng.uniform(0.0, 0.06) * height)
    trousers, clothes = _tone(rng, "trousers", 8), _tone(rng, "clothes", 10)
    for leg in parts["legs"]:
        cv.sprite(leg, x, 0.0, z, label, _vary(rng, trousers, 3))
    cv.sprite(parts["torso"], x, 0.0, z, label, clothes)
    for arm in parts["arms"]:
        cv.sprite(arm, x, 0.0, z - 0.01, label, _vary(rng, clothes, 4, 0.9))
    hx, hy, rx, ry = parts["head"]
    cv.ellipse(x + hx, hy, z, rx, ry, label, _tone(rng, "skin", 8))
    cv.ellipse(x + hx, hy + ry * 0.45, z - 0.01, rx * 1.02, ry * 0.6, label, _tone(rng, "hair", 8))
    if rng.random() < 0.25:  # a bag
        bag = _tone(rng, "clothes", 10, 0.8)
        cv.sprite([(0, 0), (0.3, 0), (0.3, 0.3), (0, 0.3)], x + 0.08 * height, 0.42 * height, z - 0.02, label, bag)


def _draw_two_wheeler(cv, rng, label, x, z, sideways, with_rider, direction=1.0):
    """A bicycle or motorcycle at depth z, seen side-on or from behind, optionally ridden."""
    motor = label == "motorcycle"
    frame = _tone(rng, "motorbike" if motor else "bike", 10)
    tyre = _tone(rng, "tyre", 4)
    radius = 0.31 if motor else 0.34
    rider_z = z - 0.05
    if sideways:
        base = 0.72 if motor else 0.52
        rear, front = x - direction * base, x + direction * base
        for wx in (rear, front):
            if motor:
                cv.ellipse(wx, radius, z, radius, radius, label, tyre)
            else:
                cv.ellipse(wx, radius, z, radius, radius, label, tyre, width_m=0.05)
        if motor:
            body = [(rear + direction * 0.1, 0.45), (front - direction * 0.25, 0.5), (front - direction * 0.2, 0.9),
                    (x - direction * 0.1, 0.95), (rear - direction * 0.05, 0.75)]
            cv.sprite(body, 0.0, 0.0, z - 0.01, label, frame)
            seat_y = 0.9
        else:
            bb = (x, 0.3)
            seat = (x - direction * 0.2, 0.95)
            head = (x + direction * 0.36, 0.93)
            for a, b in (((rear, radius), bb), (bb, seat), (bb, head), (seat, head), ((rear, radius), seat),
                         (head, (front, radius)), (head, (x + direction * 0.4, 1.08))):
                cv.segment(a, b, z - 0.01, 0.04, label, frame)
            seat_y = 0.95
        if with_rider:
            _draw_side_rider(cv, rng, x - direction * 0.2, seat_y, rider_z, direction, motor)
        return
    # from behind: the rear wheel's edge, a mudguard / body, handlebar
    tyre_w = 0.14 if motor else 0.05
    cv.sprite([(-tyre_w / 2, 0), (tyre_w / 2, 0), (tyre_w / 2, 2 * radius), (-tyre_w / 2, 2 * radius)],
              x, 0.0, z, label, tyre)
    if motor:
        cv.sprite([(-0.25, 0.4), (0.25, 0.4), (0.3, 0.95), (-0.3, 0.95)], x, 0.0, z - 0.01, label, frame)
        cv.sprite([(-0.08, 0.55), (0.08, 0.55), (0.08, 0.63), (-0.08, 0.63)], x, 0.0, z - 0.02, label,
                  _vary(rng, (200, 30, 30), 10))
    else:
        cv.sprite([(-0.04, 0.3), (0.04, 0.3), (0.04, 0.98), (-0.04, 0.98)], x, 0.0, z - 0.01, label, frame)
    cv.segment((x - 0.3, 1.05), (x + 0.3, 1.05), z + 0.6, 0.035, label, frame)
    if with_rider:
        _draw_back_rider(cv, rng, x, 0.95 if not motor else 0.9, rider_z, motor)


def _draw_side_rider(cv, rng, x, seat_y, z, direction, motor):
    trousers, clothes = _tone(rng, "trousers", 8), _tone(rng, "clothes", 10)
    d = direction
    hip = (x, seat_y + 0.05)
    shoulder = (x + d * 0.22, seat_y + 0.6)
    for foot in ((x + d * 0.2, 0.28), (x + d * 0.02, 0.4)):
        knee = (x + d * 0.35, seat_y - 0.05) if not motor else (x + d * 0.3, seat_y - 0.15)
        cv.segment(hip, knee, z, 0.15, "rider", trousers)
        cv.segment(knee, foot, z, 0.12, "rider", _vary(rng, trousers, 3))
    cv.sprite([(hip[0] - 0.14, hip[1]), (hip[0] + 0.12, hip[1]), (shoulder[0] + 0.12, shoulder[1]),
               (shoulder[0] - 0.14, shoulder[1])], 0.0, 0.0, z - 0.01, "rider", clothes)
    cv.segment(shoulder, (x + d * 0.58, seat_y + 0.12), z - 0.02, 0.08, "rider", _vary(rng, clothes, 4, 0.9))
    head = _tone(rng, "motorbike", 10) if motor else _tone(rng, "skin", 8)
    cv.ellipse(shoulder[0] + d * 0.06, shoulder[1] + 0.17, z - 0.02, 0.11 if not motor else 0.15,
               0.13 if not motor else 0.15, "rider", head)


def _draw_back_rider(cv, rng, x, seat_y, z, motor):
    trousers, clothes = _tone(rng, "trousers", 8), _tone(rng, "clothes", 10)
    for sign in (-1, 1):
        cv.sprite([(sign * 0.16 - 0.06, 0.3), (sign * 0.16 + 0.06, 0.3), (sign * 0.12 + 0.07, seat_y + 0.05),
                   (sign * 0.12 - 0.07, seat_y + 0.05)], x, 0.0, z, "rider", _vary(rng, trousers, 3))
    cv.sprite([(-0.19, seat_y), (0.19, seat_y), (0.22, seat_y + 0.55), (-0.22, seat_y + 0.55)], x, 0.0, z - 0.01,
              "rider", clothes)
    for sign in (-1, 1):
        cv.segment((x + sign * 0.2, seat_y + 0.5), (x + sign * 0.28, seat_y + 0.12), z - 0.02, 0.07, "rider",
                   _vary(rng, clothes, 4, 0.9))
    head = _tone(rng, "motorbike", 10) if motor else _tone(rng, "hair", 8)
    r = 0.15 if motor else 0.11
    cv.ellipse(x, seat_y + 0.55 + r + 0.03, z - 0.02, r, r * 1.1, "rider", head)


def _draw_static(cv, rng, x, z):
    """Street furniture that Cityscapes leaves unlabelled ('static', ignored): bins, bollards, boxes."""
    colour = _tone(rng, "static", 10)
    w, h = (rng.uniform(0.1, 0.15), rng.uniform(0.7, 1.0)) if rng.random() < 0.5 else \
        (rng.uniform(0.25, 0.4), rng.uniform(0.8, 1.3))
    cv.sprite([(-w, 0), (w, 0), (w, h), (-w, h)], x, 0.0, z, "static", colour)


# ---- the scene ------------------------------------------------------------------------------------

class _Street:
    """The layout of one street side: x of the road edge, strips outward, and the facade line."""

    def __init__(self, rng, s, road_edge):
        self.s = s
        self.road_edge = road_edge
        self.grass = rng.uniform(0.8, 2.0) if rng.random() < 0.25 else 0.0
        self.sidewalk = rng.uniform(2.2, 5.0)
        self.yard = rng.uniform(1.5, 5.0) if rng.random() < 0.35 else 0.0
        self.walk_in = road_edge + self.grass  # inner edge of the sidewalk (|x|)
        self.walk_out = self.walk_in + self.sidewalk
        self.facade = self.walk_out + self.yard

    def x(self, offset):
        """World x of the point ``offset`` metres out to this side from the camera (x = 0)."""
        return self.s * offset


def _paint_ground(cv, rng, sides, z_near, z_end):
    """Far terrain, the road with patches and markings, and each side's grass, sidewalk and yard."""
    road_left, road_right = sides[0].road_edge, sides[1].road_edge
    cv.polygon([(-1e4, cv.cam.vy), (1e4, cv.cam.vy), (1e4, 1e4), (-1e4, 1e4)], "terrain",
               _tone(rng, "terrain", 8), _GROUND)
    road = _tone(rng, "road", 5)
    cv.face(_ground_quad(-road_left, road_right, z_near, z_end), "road", road, _GROUND)
    for _ in range(int(rng.integers(0, 4))):  # repaired asphalt
        a = rng.uniform(-road_left, road_right - 1.0)
        z0 = rng.uniform(3.0, 40.0)
        cv.face(_ground_quad(a, min(a + rng.uniform(1.0, 4.0), road_right), z0, z0 + rng.uniform(3.0, 15.0)),
                "road", _vary(rng, road, 5, rng.uniform(0.8, 1.2)), _GROUND)
    marking = _tone(rng, "marking", 6)
    dash, gap, phase = rng.uniform(2.5, 4.0), rng.uniform(5.0, 9.0), rng.uniform(0.0, 6.0)
    lane = -1.75  # dashed lane lines, the camera driving in the right-most lane
    while lane > -road_left + 1.0:
        for z0 in np.arange(z_near + phase, min(z_end, 90.0), dash + gap):
            cv.face(_ground_quad(lane - 0.06, lane + 0.06, z0, z0 + dash), "road", _vary(rng, marking, 4), _GROUND)
        lane -= 3.5
    if rng.random() < 0.4:  # edge lines
        for edge in (-road_left + 0.25, road_right - 0.25):
            cv.face(_ground_quad(edge - 0.06, edge + 0.06, z_near, z_end), "road", _vary(rng, marking, 4, 0.95),
                    _GROUND)
    if rng.random() < 0.2:  # zebra crossing
        z0 = rng.uniform(8.0, 30.0)
        for a in np.arange(-road_left + 0.3, road_right - 0.5, 1.0):
            cv.face(_ground_quad(a, a + 0.5, z0, z0 + 3.0), "road", _vary(rng, marking, 4), _GROUND)

    for st in sides:
        if st.grass:
            cv.face(_ground_quad(st.x(st.road_edge), st.x(st.walk_in), z_near, z_end), "terrain",
                    _tone(rng, "terrain", 8), _GROUND)
        walk = _tone(rng, "sidewalk", 8)
        cv.face(_ground_quad(st.x(st.walk_in), st.x(st.walk_out), z_near, z_end), "sidewalk", walk, _GROUND)
        cv.face(_ground_quad(st.x(st.walk_in), st.x(st.walk_in + 0.18), z_near, z_end), "sidewalk",
                _tone(rng, "curb", 6), _GROUND)
        if st.yard:
            cv.face(_ground_quad(st.x(st.walk_out), st.x(st.facade), z_near, z_end), "terrain",
                    _tone(rng, "terrain", 8), _GROUND)
        if rng.random() < 0.35:  # cast shadow of this side's buildings
            reach = rng.uniform(3.0, 12.0)
            cv.shadow(_ground_quad(st.x(st.facade), st.x(st.facade - reach), z_near, z_end), rng.uniform(0.3, 0.45))
    return road


def _paint_backdrop(cv, rng, z_end):
    """Buildings and trees across the far end of the street."""
    x = -rng.uniform(60.0, 90.0)
    while x < 90.0:
        w = rng.uniform(6.0, 20.0)
        if rng.random() < 0.75:
            _draw_backdrop_building(cv, rng, x, x + w, z_end, rng.uniform(4.0, 20.0))
        else:
            _draw_tree(cv, rng, x + w / 2, z_end - 1.0, rng.uniform(2.0, 4.0), rng.uniform(2.0, 4.5))
        x += w


def _plan_blocks(cv, rng, st, road, z_near, z_end, buildings, layer2, things):
    """One side's blocks: buildings (with hedges, fences or walls), side streets and parks.

    Side streets and parks paint their ground at once; the rest is queued as ``(depth, draw,
    args)`` into ``buildings`` (facades), ``layer2`` (what stands along the facade line) and
    ``things``.
    """
    s, z = st.s, rng.uniform(-5.0, 6.0)
    while z < z_end:
        roll = rng.random()
        kind = "building" if roll < 0.74 or z < 6 else ("street" if roll < 0.88 else "park")
        z0, z1 = z, min(z + (rng.uniform(9.0, 16.0) if kind == "street" else rng.uniform(8.0, 28.0)), z_end)
        z = z1
        if kind == "building":
            buildings.append((z0, _draw_facade, (s, st.x(st.facade), z0, z1, rng.uniform(6.0, 18.0),
                                                 _tone(rng, "building", 12))))
            if (st.yard and rng.random() < 0.8) or rng.random() < 0.12:  # hedge, fence or wall
                thing = (_draw_hedge, _draw_fence, _draw_wall)[int(rng.integers(3))]
                layer2.append((z0, thing, (s, st.x(st.walk_out + 0.1), max(z0, z_near), z1, rng.uniform(0.8, 1.6))))
        elif kind == "street":  # a side street, with the far row of its buildings and a traffic light
            cv.face(_ground_quad(st.x(st.road_edge), st.x(st.facade + 40.0), z0 + 0.8, z1 - 0.8), "road",
                    _vary(rng, road, 4), _GROUND)
            far = st.facade + rng.uniform(12.0, 30.0)
            buildings.append((z0, _draw_facade, (s, st.x(far), z0 - 10.0, z1 + 10.0, rng.uniform(8.0, 22.0),
                                                 _tone(rng, "building", 12))))
            if rng.random() < 0.7 and z0 < 70:
                things.append((z0 - 0.5, _draw_traffic_light_post, (s, st.x(st.walk_in + 0.4), z0 - 0.5)))
        else:  # a park: grass and trees behind the sidewalk, a fence, wall or hedge along it
            cv.face(_ground_quad(st.x(st.walk_out), st.x(st.facade + 40.0), max(z0, z_near), z1), "terrain",
                    _tone(rng, "terrain", 8), _GROUND)
            for _ in range(int(rng.integers(2, 6))):
                tz = rng.uniform(z0, z1)
                things.append((tz, _draw_tree, (st.x(st.walk_out + rng.uniform(2.0, 15.0)), tz,
                                                rng.uniform(1.5, 3.5), rng.uniform(1.5, 3.5))))
            if rng.random() < 0.8:
                thing = (_draw_fence, _draw_wall, _draw_hedge)[int(rng.integers(3))]
                layer2.append((z0, thing, (s, st.x(st.walk_out + 0.1), max(z0, z_near), z1, rng.uniform(0.8, 2.0))))


def _plan_sidewalk(rng, st, z_end, things):
    """Queue what stands along one curb and on its sidewalk: trees, lamps, signs, traffic lights,
    pedestrians, parked bicycles, street furniture and parked cars."""
    s = st.s
    if rng.random() < 0.45:  # a row of trees, in the grass strip if there is one
        spacing = rng.uniform(7.0, 14.0)
        x = st.x(st.road_edge + st.grass / 2 if st.grass else st.walk_in + 0.7)
        for tz in np.arange(rng.uniform(1.0, spacing), min(z_end, 120.0), spacing):
            things.append((tz, _draw_tree, (x, tz, rng.uniform(2.0, 3.5), rng.uniform(1.4, 3.2))))
    if rng.random() < 0.85:  # street lamps
        spacing = rng.uniform(18.0, 35.0)
        for pz in np.arange(rng.uniform(2.0, spacing), min(z_end, 150.0), spacing):
            things.append((pz, _draw_street_lamp, (s, st.x(st.walk_in + 0.35), pz)))
    for _ in range(int(rng.poisson(1.3))):
        pz = rng.uniform(3.0, 70.0)
        things.append((pz, _draw_sign_post, (st.x(st.walk_in + rng.uniform(0.3, 0.6)), pz)))
    if rng.random() < 0.15:
        pz = rng.uniform(6.0, 50.0)
        things.append((pz, _draw_traffic_light_post, (s, st.x(st.walk_in + 0.4), pz)))
    for _ in range(int(rng.poisson(1.6))):
        pz = rng.uniform(2.5, 55.0)
        px = st.x(st.walk_in + rng.uniform(0.3, st.sidewalk - 0.3))
        for k in range(1 if rng.random() < 0.7 else int(rng.integers(2, 4))):  # sometimes a group
            things.append((pz + 0.4 * k, _draw_person, (px + s * 0.6 * k, pz + 0.4 * k)))
    for _ in range(int(rng.poisson(0.5))):  # parked bicycles, side-on
        pz = rng.uniform(4.0, 45.0)
        for k in range(int(rng.integers(1, 4))):
            things.append((pz + 0.7 * k, _draw_two_wheeler,
                           ("bicycle", st.x(st.walk_out - 0.6), pz + 0.7 * k, True, False, 1.0)))
    for _ in range(int(rng.poisson(1.2))):
        pz = rng.uniform(3.0, 50.0)
        things.append((pz, _draw_static, (st.x(st.walk_in + rng.uniform(0.2, st.sidewalk)), pz)))
    if rng.random() < 0.45:  # parked cars along the curb (on the left facing the camera)
        z = rng.uniform(2.0, 12.0)
        while z < 70.0:
            if rng.random() < 0.65:
                things.append((z, _draw_car, (st.x(st.road_edge - 1.05), z, s > 0)))
            z += rng.uniform(5.2, 9.0)


def _plan_traffic(rng, road_left, road_right, things):
    """Queue the traffic: cars in the lanes (the camera's going away, the others coming), an
    occasional truck, bus or tram, cyclists and motorcyclists, pedestrians crossing."""
    lanes = [0.0] + [-3.5 * k for k in range(1, 4) if 3.5 * k + 1.0 < road_left]
    occupied = {lane: [] for lane in lanes}

    def place(lane, z, length):
        if all(abs(z - other) > length + 1.5 for other in occupied[lane]):
            occupied[lane].append(z)
            return True
        return False

    for _ in range(int(rng.poisson(2.5))):
        lane = lanes[int(rng.integers(len(lanes)))]
        z = rng.uniform(6.0, 90.0)
        if place(lane, z, 6.0):
            things.append((z, _draw_car, (lane + rng.uniform(-0.3, 0.3), z, lane >= 0.0)))
    for label, chance in (("truck", 0.25), ("bus", 0.18), ("train", 0.06)):
        if rng.random() < chance:
            lane = lanes[int(rng.integers(len(lanes)))] if label != "train" else lanes[-1]
            z = rng.uniform(10.0, 80.0)
            if place(lane, z, 12.0):
                things.append((z, _draw_big_vehicle, (label, lane + rng.uniform(-0.2, 0.2), z, lane >= 0.0)))
    for _ in range(int(rng.poisson(0.9))):  # cyclists and motorcyclists
        label = "bicycle" if rng.random() < 0.7 else "motorcycle"
        sideways = rng.random() < 0.35  # crossing, seen side-on; else riding ahead, seen from behind
        z = rng.uniform(5.0, 45.0)
        x = rng.uniform(-road_left + 1, road_right - 1) if sideways else road_right - rng.uniform(0.5, 1.2)
        things.append((z, _draw_two_wheeler, (label, x, z, sideways, True, 1.0 if rng.random() < 0.5 else -1.0)))
    for _ in range(int(rng.poisson(0.5))):  # pedestrians crossing
        z = rng.uniform(8.0, 40.0)
        things.append((z, _draw_person, (rng.uniform(-road_left + 0.5, road_right - 0.5), z)))


def _paint_void(cv, rng, sky):
    """The ego vehicle's bonnet along the bottom and, sometimes, a rectification border (both void)."""
    width, height = cv.cam.width, cv.cam.height
    bonnet = height * rng.uniform(0.04, 0.08)
    xs = np.linspace(-2.0, width + 2.0, 24)
    top = height - bonnet * (1.0 - 0.5 * ((xs - width / 2) / (width / 2)) ** 2)
    cv.polygon(np.concatenate([np.stack([xs, top], 1), [(width + 2.0, height + 2.0), (-2.0, height + 2.0)]]),
               "ego vehicle", _tone(rng, "ego", 6), 0.0)
    reflection = np.concatenate([np.stack([xs, top + 1.0], 1), np.stack([xs[::-1], top[::-1] + bonnet * 0.35], 1)])
    cv.polygon(reflection, "ego vehicle", _vary(rng, sky, 10, 0.45), 0.0)
    if rng.random() < 0.3:
        border = int(rng.integers(1, 3))
        for box in ([(0, 0), (border - 1, 0), (border - 1, height), (0, height)],
                    [(width - border, 0), (width, 0), (width, height), (width - border, height)]):
            cv.polygon(box, "rectification border", (4, 4, 4), 0.0)


def _render_scene(rng, height, width):
    """One street scene: the RGB image (H, W, 3) uint8 and official label ids (H, W) uint8."""
    cam = _Camera(f=width * rng.uniform(0.95, 1.2), h=rng.uniform(1.15, 1.4),
                  vx=width * (0.5 + rng.uniform(-0.06, 0.06)), vy=height * rng.uniform(0.38, 0.5),
                  width=width, height=height)
    sky = _tone(rng, "sky", 6)
    sky_glow = rng.uniform(10, 35) * np.array([1.0, 0.9, 0.6])
    cv = _Canvas(cam, sky)
    z_near = 0.6
    backdrop = rng.random() < 0.75
    z_end = rng.uniform(70.0, 220.0) if backdrop else 400.0
    sides = [_Street(rng, -1, rng.uniform(3.0, 8.0)), _Street(rng, 1, rng.uniform(1.8, 4.0))]

    road = _paint_ground(cv, rng, sides, z_near, z_end)
    if backdrop:
        _paint_backdrop(cv, rng, z_end)
    buildings, layer2, things = [], [], []
    for st in sides:
        _plan_blocks(cv, rng, st, road, z_near, z_end, buildings, layer2, things)
        _plan_sidewalk(rng, st, z_end, things)
    _plan_traffic(rng, sides[0].road_edge, sides[1].road_edge, things)
    # paint far to near: facades, then what stands along them, then the street's things
    for group in (buildings, layer2, things):
        for _, draw, args in sorted(group, key=lambda item: -item[0]):
            draw(cv, rng, *args)
    _paint_void(cv, rng, sky)

    # lighting: exposure, colour balance, a mild gradient
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-0.2, 0.2, 2)
    light = rng.uniform(0.85, 1.12) * (1.0 + gx * (xx / width - 0.5) + gy * (yy / height - 0.5))
    light = light[..., None] * rng.uniform(0.95, 1.05, 3).astype(np.float32)  # (H, W, 3)
    image, labels = cv.render(rng, haze_colour=np.clip(sky + sky_glow, 0, 255),
                              haze_distance=rng.uniform(250.0, 600.0), sky_glow=sky_glow, light=light)
    blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.7))))
    return np.asarray(blurred), labels


# ---- writing the dataset ---------------------------------------------------------------------------

def _validate(num_train, num_val, num_test, size, seed):
    check_split_sizes(num_train, num_val, num_test)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise InvalidValue(f"size must be a (height, width) pair, got {size!r}")
    check_int("height", size[0], 32, 2048)
    check_int("width", size[1], 32, 4096)
    check_int("seed", seed, 0)


def _scene_names(split, num_images):
    """[(city, file stem)] of a split: images dealt over the split's cities in turn."""
    cities = STREET_SCENE_CITIES[split]
    return [(cities[i % len(cities)], f"{cities[i % len(cities)]}_{i // len(cities):06d}_{_FRAME:06d}")
            for i in range(num_images)]


def _remove_stale(root, split):
    """Delete this generator's files of ``split`` left by an earlier (larger) generation."""
    for top in ("leftImg8bit", "gtFine"):
        split_dir = root / top / split
        if not split_dir.is_dir():
            continue
        for city_dir in split_dir.iterdir():
            if city_dir.is_dir():
                for path in city_dir.iterdir():
                    if _FILE_PATTERN.fullmatch(path.name):
                        path.unlink()


def _frequencies(counts):
    """{class name: pixel fraction} for the 19 classes plus 'ignore' from a 256-bin trainId histogram."""
    total = max(int(counts.sum()), 1)
    out = {name: round(float(counts[k]) / total, 6) for k, name in enumerate(CITYSCAPES_CLASSES)}
    out["ignore"] = round(float(counts[IGNORE_INDEX]) / total, 6)
    return out


def _write_split(root, split, num_images, height, width, seed):
    """Render and write one split's images and labelIds (and their trainIds); returns its summary and
    trainId histogram."""
    _remove_stale(root, split)
    counts = np.zeros(256, dtype=np.int64)
    cities = {}
    for index, (city, stem) in enumerate(_scene_names(split, num_images)):
        image, label_ids = _render_scene(item_rng(seed, split, index), height, width)
        image_dir = root / "leftImg8bit" / split / city
        label_dir = root / "gtFine" / split / city
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="RGB").save(image_dir / (stem + IMAGE_SUFFIX), format="PNG")
        Image.fromarray(label_ids, mode="L").save(label_dir / (stem + LABEL_IDS_SUFFIX), format="PNG")
        counts += np.bincount(label_ids_to_train_ids(label_ids).ravel(), minlength=256)
        cities[city] = cities.get(city, 0) + 1
    convert_label_ids(root / "gtFine" / split, overwrite=True)  # the same path real data takes
    summary = dict(images=num_images, cities=cities, class_frequencies=_frequencies(counts))
    return summary, counts


def _read_meta(root):
    return read_json_or_none(root / _META_NAME)


def _splits_present(root, args, splits):
    """Whether every image, labelIds and labelTrainIds file of ``splits`` is on disk."""
    return all(path.is_file()
               for split in splits for city, stem in _scene_names(split, args[f"num_{split}"])
               for path in (root / "leftImg8bit" / split / city / (stem + IMAGE_SUFFIX),
                            root / "gtFine" / split / city / (stem + LABEL_IDS_SUFFIX),
                            root / "gtFine" / split / city / (stem + TRAIN_IDS_SUFFIX)))


def _write_meta(root, args, summary, complete):
    write_json_atomic(root / _META_NAME, dict(args=args, complete=complete, summary=summary), indent=2)


def make_street_scenes(root, num_train=200, num_val=50, num_test=200, size=(128, 256), seed=0):
    """Write synthetic street scenes in the Cityscapes layout under ``root``; return a summary dict.

    ``size`` is (height, width). The same arguments give byte-identical files; each image depends
    only on (seed, split, index), so the val and test images do not change with ``num_train``. The
    summary is ``{'root', 'classes', 'height', 'width', 'train': {'images', 'cities':
    {city: images}, 'class_frequencies': {class: pixel fraction, ..., 'ignore': fraction}},
    'val': {...}, 'test': {...}, 'class_frequencies': {...} (train + val), 'generated'}``; ``generated``
    is False when ``root`` already held this exact dataset (``root/street_scenes_meta.json``) and nothing
    was rewritten. A dataset that differs only in its test split (e.g. one made before there was one)
    gets the test split written and keeps its train and val files. A ``root`` holding ``leftImg8bit/``
    or ``gtFine/`` without that meta file (e.g. the real Cityscapes) is refused with a ValueError rather
    than written into.
    """
    _validate(num_train, num_val, num_test, size, seed)
    root = Path(root)
    height, width = int(size[0]), int(size[1])
    args = dict(format_version=_FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                num_test=int(num_test), height=height, width=width, seed=int(seed))
    meta = _read_meta(root)
    finished = meta["args"] if meta and meta.get("complete") else None
    if finished == args and _splits_present(root, args, SPLITS):
        return dict(meta["summary"], root=str(root), generated=False)
    if meta is None and ((root / "leftImg8bit").exists() or (root / "gtFine").exists()):
        raise InvalidValue(f"{root} holds leftImg8bit/ or gtFine/ but no {_META_NAME}: it was not written "
                           f"by make_street_scenes (real Cityscapes?); refusing to write into it")

    if adds_only_the_test_split(finished, args) and _splits_present(root, args, ("train", "val")):
        summary = meta["summary"]  # the old meta stays until the test split is written
        summary["test"], _ = _write_split(root, "test", num_test, height, width, seed)
    else:
        root.mkdir(parents=True, exist_ok=True)
        _write_meta(root, args, None, complete=False)  # an interrupted generation must not look complete
        summary = dict(classes=list(CITYSCAPES_CLASSES), height=height, width=width)
        tuning_and_training = np.zeros(256, dtype=np.int64)
        for split in SPLITS:
            summary[split], counts = _write_split(root, split, args[f"num_{split}"], height, width, seed)
            if split != "test":
                tuning_and_training += counts
        summary["class_frequencies"] = _frequencies(tuning_and_training)
    _write_meta(root, args, summary, complete=True)
    return dict(summary, root=str(root), generated=True)

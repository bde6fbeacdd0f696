"""Synthetic 2D "shapes" detection dataset, written as real COCO files.

Each image holds a few coloured silhouettes (circle, star, heart, ...) on a noisy gradient
background. Colour is drawn independently of the class, so only the silhouette tells the class
apart. Objects are painted in order over each other; an instance-id map gives every object's
visible pixels, the box is the visible extent, and an object is never left less than
``MIN_VISIBLE_FRACTION`` visible (a placement that would do so is re-drawn or abandoned).
Masks are rasterised at pixel centres, so pixel counts match the polygons' true areas.

On disk (the standard COCO layout)::

    root/train/000000.jpg ...            root/val/000000.jpg ...       root/test/000000.jpg ...
    root/annotations/instances_train.json
    root/annotations/instances_val.json  the tuning split
    root/annotations/instances_test.json the report split (see densekd.data.synthetic)
    root/shapes_meta.json                arguments + summary, to skip regeneration

Annotation fields: ``bbox`` [x, y, w, h] of the visible pixels, ``area`` the visible pixel count,
``segmentation`` the polygon of the object's full (unoccluded) outline, and the extra field
``full_area`` the unoccluded pixel count.
"""
import json
import math
import re
from pathlib import Path

import numpy as np
from PIL import Image

from densekd.data.manifest import read_json_or_none, write_json_atomic
from densekd.data.synthetic import SPLITS, adds_only_the_test_split, check_int, check_split_sizes, item_rng
from ..core.errors import InvalidValue

__all__ = ["SHAPES_CLASSES", "MIN_VISIBLE_FRACTION", "make_shapes_coco"]

SHAPES_CLASSES = (
    "circle", "square", "triangle", "star", "hexagon",
    "cross", "ring", "heart", "diamond", "crescent",
)
MIN_VISIBLE_FRACTION = 0.4

_FORMAT_VERSION = 1
_META_NAME = "shapes_meta.json"
_SIZE_RANGE = (0.10, 0.50)  # object diameter as a fraction of the image side
_PLACEMENT_TRIES = 20
_MIN_COLOUR_DISTANCE = 90.0  # RGB distance between an object and the background under it


def _circle_points(n, radius=1.0, cx=0.0, cy=0.0, start=0.0, stop=2 * math.pi):
    """(n, 2) points on a circle arc from ``start`` to ``stop`` (radians, endpoint included)."""
    t = np.linspace(start, stop, n)
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)


def _regular_polygon(n, radius=1.0, phase=-math.pi / 2):
    """(n, 2) vertices of a regular n-gon, the first one pointing up."""
    return _circle_points(n + 1, radius, start=phase, stop=phase + 2 * math.pi)[:-1]


def _star(points=5, inner=0.42):
    """(2 * points, 2) vertices of a star, tips on the unit circle."""
    angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(half_width=0.3):
    """(12, 2) vertices of a plus sign with arms of half-width ``half_width``."""
    w = half_width
    return np.array([
        (-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w),
        (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w),
    ], dtype=np.float64)


def _heart(n=48):
    """(n, 2) points of the classic parametric heart, point down, scaled into the unit disc."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x / 16.5, -(y + 2.5) / 16.5], axis=1)  # image y points down


def _crescent(offset=0.45, cut_radius=0.85, n=40):
    """Unit circle minus a circle of ``cut_radius`` shifted right by ``offset``."""
    x0 = (1 - cut_radius**2 + offset**2) / (2 * offset)  # where the two circles cross
    y0 = math.sqrt(1 - x0**2)
    outer_start = math.atan2(y0, x0)
    outer = _circle_points(n, 1.0, start=outer_start, stop=2 * math.pi - outer_start)
    # the cut circle's arc inside the unit disc, walked back from (x0, -y0) to (x0, y0)
    cut_start = math.atan2(-y0, x0 - offset) + 2 * math.pi
    inner = _circle_points(n, cut_radius, cx=offset, start=cut_start, stop=math.atan2(y0, x0 - offset))
    return np.concatenate([outer, inner[1:-1]], axis=0)


# class name -> (outline (N, 2) in the unit disc, holes, max rotation in degrees)
_SHAPES = {
    "circle": (_circle_points(48)[:-1], [], 0.0),
    "square": (np.array([(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)]), [], 20.0),
    "triangle": (_regular_polygon(3), [], 180.0),
    "star": (_star(), [], 180.0),
    "hexagon": (_regular_polygon(6), [], 180.0),
    "cross": (_cross(), [], 180.0),
    "ring": (_circle_points(48)[:-1], [_circle_points(40, 0.55)[:-1]], 0.0),
    "heart": (_heart(), [], 30.0),
    "diamond": (np.array([(0.0, -1.0), (0.55, 0.0), (0.0, 1.0), (-0.55, 0.0)]), [], 20.0),
    "crescent": (_crescent(), [], 180.0),
}
assert tuple(_SHAPES) == SHAPES_CLASSES


def _validate(num_train, num_val, num_test, image_size, seed, min_objects, max_objects):
    check_split_sizes(num_train, num_val, num_test)
    check_int("image_size", image_size, 32, 4096)
    check_int("seed", seed, 0)
    check_int("min_objects", min_objects, 1, 30)
    check_int("max_objects", max_objects, 1, 30)
    if max_objects < min_objects:
        raise InvalidValue(
            f"max_objects must be >= min_objects, got max_objects={max_objects} < "
            f"min_objects={min_objects}"
        )


def _background(rng, size):
    """(size, size, 3) float image: a random two-colour gradient plus low-frequency blotches."""
    c0, c1 = rng.uniform(0, 255, size=(2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    proj = xs * math.cos(angle) + ys * math.sin(angle)
    t = (proj - proj.min()) / max(proj.max() - proj.min(), 1e-6)
    image = c0 * (1 - t[..., None]) + c1 * t[..., None]
    grid = rng.normal(0, 1, size=(5, 5, 3)).astype(np.float32)
    blotches = np.stack([
        np.asarray(Image.fromarray(grid[..., c], mode="F").resize((size, size), Image.BILINEAR))
        for c in range(3)
    ], axis=2)
    return image + 20.0 * blotches


def _shape_polygons(rng, name, size):
    """Sample one object of class ``name``: its outline (N, 2) and holes in image pixels."""
    outline, holes, max_rotation = _SHAPES[name]
    radius = 0.5 * size * math.exp(rng.uniform(math.log(_SIZE_RANGE[0]), math.log(_SIZE_RANGE[1])))
    aspect = rng.uniform(0.9, 1.1)
    theta = math.radians(rng.uniform(-max_rotation, max_rotation))
    cx, cy = rng.uniform(radius, size - radius, size=2)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    scale = np.array([aspect, 1.0 / aspect]) * radius

    def place(points):
        return (points * scale) @ rot.T + np.array([cx, cy])

    return place(outline), [place(h) for h in holes]


def _rasterize(outline, holes, size):
    """(size, size) bool mask of the pixels whose centres lie inside ``outline`` minus ``holes``.

    An even-odd scanline fill sampled at pixel centres (x + 0.5, y + 0.5), so the pixel count
    matches the polygon's true area (PIL's polygon fill also paints every pixel the edge touches).
    """
    rings = [outline, *holes]
    start = np.concatenate(rings, axis=0)
    end = np.concatenate([np.roll(r, -1, axis=0) for r in rings], axis=0)
    top = max(0, int(math.floor(start[:, 1].min())))
    bottom = min(size, int(math.ceil(start[:, 1].max())) + 1)
    mask = np.zeros((size, size), dtype=bool)
    if bottom <= top:
        return mask
    yc = np.arange(top, bottom)[:, None] + 0.5  # (R, 1) row centres
    y0, y1 = start[None, :, 1], end[None, :, 1]
    crosses = (y0 <= yc) != (y1 <= yc)  # (R, E), half-open so a vertex counts once
    with np.errstate(divide="ignore", invalid="ignore"):
        x = start[None, :, 0] + (yc - y0) * (end[None, :, 0] - start[None, :, 0]) / (y1 - y0)
    xs = np.sort(np.where(crosses, x, np.inf), axis=1)[:, : max(int(crosses.sum(1).max()), 2)]
    enter, leave = xs[:, 0::2], xs[:, 1::2]  # (R, K) span ends; unused slots are inf
    valid = np.isfinite(enter)
    row = np.broadcast_to(np.arange(len(yc))[:, None], enter.shape)[valid]
    first = np.clip(np.ceil(enter[valid] - 0.5), 0, size).astype(np.int64)
    stop = np.clip(np.ceil(leave[valid] - 0.5), 0, size).astype(np.int64)
    coverage = np.zeros((len(yc), size + 1), dtype=np.int32)
    np.add.at(coverage, (row, first), 1)
    np.add.at(coverage, (row, stop), -1)
    mask[top:bottom] = np.cumsum(coverage[:, :size], axis=1) > 0
    return mask


def _keyhole(outline, holes):
    """One (N, 2) polygon tracing ``outline`` and each hole, reversed, through a zero-width slit."""
    points = outline
    for hole in holes:
        d = ((points[:, None, :] - hole[None, :, :]) ** 2).sum(axis=2)
        k, j = np.unravel_index(int(np.argmin(d)), d.shape)
        hole_loop = np.roll(hole[::-1], -(len(hole) - 1 - j), axis=0)  # reversed, from vertex j
        points = np.concatenate([points[: k + 1], hole_loop, hole_loop[:1], points[k:]], axis=0)
    return points


def _object_colour(rng, background, mask):
    """A random RGB colour far enough from the background under ``mask``."""
    under = background[mask].mean(axis=0)
    colour = rng.uniform(0, 255, size=3)
    for _ in range(10):
        if np.linalg.norm(colour - under) >= _MIN_COLOUR_DISTANCE:
            break
        colour = rng.uniform(0, 255, size=3)
    return colour


def _render_image(rng, size, min_objects, max_objects):
    """One image and its objects: (size, size, 3) uint8 and a list of annotation dicts."""
    background = _background(rng, size)
    image = background.copy()
    ids = np.zeros((size, size), dtype=np.int32)  # 0 = background, k = k-th placed object
    full_areas = [0]  # indexed by object id
    objects = []
    num_objects = int(rng.integers(min_objects, max_objects + 1))
    for _ in range(num_objects):
        label = int(rng.integers(len(SHAPES_CLASSES)))
        name = SHAPES_CLASSES[label]
        for _ in range(_PLACEMENT_TRIES):
            outline, holes = _shape_polygons(rng, name, size)
            mask = _rasterize(outline, holes, size)
            full_area = int(mask.sum())
            if full_area == 0:
                continue
            # every earlier object must stay at least MIN_VISIBLE_FRACTION visible
            visible_after = np.bincount(ids[~mask], minlength=len(full_areas))
            if np.all(visible_after[1:] >= MIN_VISIBLE_FRACTION * np.array(full_areas[1:])):
                break
        else:
            continue  # no room for this object: leave it out

        colour = _object_colour(rng, background, mask)
        shade_angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.nonzero(mask)
        ramp = (xs - xs.mean()) * math.cos(shade_angle) + (ys - ys.mean()) * math.sin(shade_angle)
        ramp /= max(np.abs(ramp).max(), 1.0)
        image[ys, xs] = colour * (1.0 + 0.15 * ramp[:, None])
        full_areas.append(full_area)
        ids[mask] = len(full_areas) - 1
        objects.append(dict(label=label, outline=outline, holes=holes, full_area=full_area))

    image += rng.normal(0, 8.0, size=image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    annotations = []
    for k, obj in enumerate(objects, start=1):
        visible = ids == k
        area = int(visible.sum())
        if area < MIN_VISIBLE_FRACTION * obj["full_area"]:
            continue
        rows = np.flatnonzero(visible.any(axis=1))
        cols = np.flatnonzero(visible.any(axis=0))
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        y0, y1 = int(rows[0]), int(rows[-1]) + 1
        polygon = np.clip(_keyhole(obj["outline"], obj["holes"]), 0, size)
        annotations.append(dict(
            category_id=obj["label"] + 1,
            bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
            area=float(area),
            iscrowd=0,
            segmentation=[[round(float(v), 2) for v in polygon.reshape(-1)]],
            full_area=float(obj["full_area"]),
        ))
    return image, annotations


def _write_split(root, split, num_images, image_size, seed, min_objects, max_objects):
    """Render ``num_images`` images of ``split`` and write them plus their COCO json."""
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    for old in image_dir.iterdir():  # stale images of an earlier, larger generation
        if re.fullmatch(r"\d{6}\.jpg", old.name):
            old.unlink()

    images, annotations = [], []
    for index in range(num_images):
        rng = item_rng(seed, split, index)
        pixels, objects = _render_image(rng, image_size, min_objects, max_objects)
        file_name = f"{index:06d}.jpg"
        Image.fromarray(pixels, mode="RGB").save(image_dir / file_name, quality=95)
        image_id = index + 1
        images.append(dict(id=image_id, file_name=file_name, width=image_size, height=image_size))
        for obj in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, **obj))

    coco = dict(
        info=dict(
            description=f"densekd synthetic shapes ({split})",
            version=str(_FORMAT_VERSION),
            year=2024,
            contributor="densekd",
            date_created="",
        ),
        licenses=[dict(id=1, name="CC0-1.0", url="https://creativecommons.org/publicdomain/zero/1.0/")],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory="shape") for i, name in enumerate(SHAPES_CLASSES)
        ],
    )
    ann_dir = root / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    with open(ann_dir / f"instances_{split}.json", "w") as f:
        json.dump(coco, f, separators=(",", ":"))
    per_class = np.bincount([a["category_id"] - 1 for a in annotations], minlength=len(SHAPES_CLASSES))
    return dict(images=len(images), objects=len(annotations),
                objects_per_class={name: int(n) for name, n in zip(SHAPES_CLASSES, per_class)})


def _splits_present(root, args, splits):
    """Whether the annotation file and the last image of each of ``splits`` are on disk."""
    return all((root / "annotations" / f"instances_{split}.json").is_file()
               and (root / split / f"{args[f'num_{split}'] - 1:06d}.jpg").is_file() for split in splits)


def make_shapes_coco(root, num_train=400, num_val=100, num_test=300, image_size=160, seed=0,
                     min_objects=2, max_objects=6):
    """Write the synthetic shapes dataset in COCO format under ``root``; return a summary dict.

    The summary is ``{'root', 'classes', 'train': {'images', 'objects', 'objects_per_class': {class: n}},
    'val': {...}, 'test': {...}, 'generated'}``; ``generated`` is False when ``root`` already held this
    exact dataset (same arguments, recorded in ``root/shapes_meta.json``) and nothing was rewritten. A
    dataset that differs only in its test split (e.g. one made before there was one) gets the test split
    written and keeps its train and val files.
    """
    _validate(num_train, num_val, num_test, image_size, seed, min_objects, max_objects)
    root = Path(root)
    args = dict(
        format_version=_FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val), num_test=int(num_test),
        image_size=int(image_size), seed=int(seed), min_objects=int(min_objects),
        max_objects=int(max_objects),
    )
    meta = read_json_or_none(root / _META_NAME) or {}  # written last: there only when a generation finished
    if meta.get("args") == args and _splits_present(root, args, SPLITS):
        return dict(meta["summary"], root=str(root), generated=False)

    if adds_only_the_test_split(meta.get("args"), args) and _splits_present(root, args, ("train", "val")):
        splits, summary = ("test",), meta["summary"]  # the old meta stays until the test split is written
    else:
        root.mkdir(parents=True, exist_ok=True)
        (root / _META_NAME).unlink(missing_ok=True)  # an interrupted regeneration must not look complete
        splits, summary = SPLITS, dict(classes=list(SHAPES_CLASSES))
    for split in splits:
        summary[split] = _write_split(root, split, args[f"num_{split}"], image_size, seed, min_objects, max_objects)
    write_json_atomic(root / _META_NAME, dict(args=args, summary=summary), indent=2)
    return dict(summary, root=str(root), generated=True)

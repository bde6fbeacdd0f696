"""Base / novel class splits of the open-vocabulary benchmarks (names in base-first order), and the
open-vocabulary COCO annotation files made from a standard COCO (or LVIS v1) file."""
import difflib
import json
import os
from collections import Counter

from densekd.data.shapes import SHAPES_CLASSES
from ..core.errors import InvalidValue, MissingFile, UnknownKey

# OV-COCO (Bansal et al. 2018; used by ViLD, OADP): 48 classes with boxes, 17 without.
OV_COCO_BASE = (
    "person", "bicycle", "car", "motorcycle", "train", "truck", "boat", "bench", "bird", "horse",
    "sheep", "bear", "zebra", "giraffe", "backpack", "handbag", "suitcase", "frisbee", "skis",
    "kite", "surfboard", "bottle", "fork", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "pizza", "donut", "chair", "bed", "toilet", "tv", "laptop",
    "mouse", "remote", "microwave", "oven", "toaster", "refrigerator", "book", "clock", "vase",
    "toothbrush",
)
OV_COCO_NOVEL = (
    "airplane", "bus", "cat", "dog", "cow", "elephant", "umbrella", "tie", "snowboard",
    "skateboard", "cup", "knife", "cake", "couch", "keyboard", "sink", "scissors",
)

# The embedded demo: three of the ten shapes never get a box in training.
SHAPES_NOVEL = ("star", "heart", "crescent")
SHAPES_BASE = tuple(name for name in SHAPES_CLASSES if name not in SHAPES_NOVEL)

# OV-LVIS (ViLD, OADP): the common ('c') and frequent ('f') classes have boxes, the rare ('r') don't.
# LVIS v1 has 866 base / 337 novel; the names come from each category's ``frequency`` field.
LVIS_BASE_FREQUENCIES = ("c", "f")
LVIS_NOVEL_FREQUENCIES = ("r",)


def lvis_base_novel(lvis, source="the LVIS annotation file"):
    """``(base names, novel names)`` of an LVIS dict: common + frequent vs rare, each in category-id order."""
    categories = sorted(lvis["categories"], key=lambda c: c["id"])
    bad = [(c.get("name"), c.get("frequency")) for c in categories
           if c.get("frequency") not in LVIS_BASE_FREQUENCIES + LVIS_NOVEL_FREQUENCIES]
    if bad:
        raise InvalidValue(f"{len(bad)} categories of {source} have no LVIS frequency ('r', 'c' or 'f'), "
                           f"e.g. {bad[:3]} (name, frequency seen). Give an LVIS v1 file "
                           "(lvis_v1_train.json / lvis_v1_val.json).")
    base = tuple(c["name"] for c in categories if c["frequency"] in LVIS_BASE_FREQUENCIES)
    novel = tuple(c["name"] for c in categories if c["frequency"] in LVIS_NOVEL_FREQUENCIES)
    return base, novel


# --- open-vocabulary annotation files ------------------------------------------------------------
OV_SPLIT_KINDS = ("train", "ov")


def _check_names(base, novel):
    """Reject empty, repeated or overlapping class name lists."""
    base, novel = list(base), list(novel)
    if not base:
        raise InvalidValue("the base class list is empty: give at least one base class")
    for what, names in (("base", base), ("novel", novel)):
        repeated = sorted(n for n, c in Counter(names).items() if c > 1)
        if repeated:
            raise InvalidValue(f"{what} class names repeat: {repeated}; give each name once")
    both = sorted(set(base) & set(novel))
    if both:
        raise InvalidValue(f"classes listed as both base and novel: {both}; a class is one or the other")
    return base, novel


def close_names(missing, known):
    """``'name' (close: a, b); ...``: each missing name with its closest known names, for errors."""
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hints.append(f"'{name}'" + (f" (close: {', '.join(close)})" if close else ""))
    return "; ".join(hints)


def _categories_by_name(coco, names, source):
    """``{name: category dict}`` of ``coco`` for ``names``; KeyError naming close names if any is missing."""
    by_name = {c["name"]: c for c in coco["categories"]}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise UnknownKey(f"{len(missing)} class name(s) not among the categories of {source}: "
                         f"{close_names(missing, by_name)}. Its categories are: {', '.join(sorted(by_name))}. "
                         "Fix the base/novel name lists to match the annotation file.")
    return {n: by_name[n] for n in names}


def ov_coco_annotations(coco, base, novel, kind, source="the annotation file", keep_images=False):
    """An open-vocabulary COCO dict from ``coco``: ``kind`` 'train' (base boxes) or 'ov' (base + novel).

    Category ids are remapped base-first (1..B, then B+1..B+N for 'ov'); each category keeps its
    other fields, its original id in ``orig_id`` and says ``split``: 'base' or 'novel'. Annotations
    of other classes are dropped, and so are the images left without any annotation unless
    ``keep_images`` (LVIS evaluation needs every image). LVIS's per-image category lists
    (``neg_category_ids``, ``not_exhaustive_category_ids``) are remapped the same way.
    """
    if kind not in OV_SPLIT_KINDS:
        raise InvalidValue(f"kind must be one of {OV_SPLIT_KINDS}, got {kind!r}")
    base, novel = _check_names(base, novel)
    names = base + novel if kind == "ov" else base
    found = _categories_by_name(coco, base + novel, source)
    categories, new_id = [], {}
    for index, name in enumerate(names, start=1):
        original = found[name]
        new_id[original["id"]] = index
        categories.append(dict(original, id=index, name=name, supercategory=original.get("supercategory", ""),
                               orig_id=original["id"], split="base" if index <= len(base) else "novel"))
    annotations = [dict(a, category_id=new_id[a["category_id"]])
                   for a in coco["annotations"] if a["category_id"] in new_id]
    kept_images = {a["image_id"] for a in annotations}
    images = [_remap_image_categories(im, new_id)
              for im in coco["images"] if keep_images or im["id"] in kept_images]
    out = {k: v for k, v in coco.items() if k not in ("images", "annotations", "categories")}
    out.update(images=images, annotations=annotations, categories=categories)
    return out


LVIS_IMAGE_CATEGORY_LISTS = ("neg_category_ids", "not_exhaustive_category_ids")


def _remap_image_categories(image, new_id):
    """``image`` with its LVIS per-image category id lists remapped by ``new_id`` (others dropped)."""
    lists = {k: [new_id[c] for c in image[k] if c in new_id] for k in LVIS_IMAGE_CATEGORY_LISTS if k in image}
    return dict(image, **lists) if lists else image


def ov_coco_counts(coco):
    """``{'images', 'boxes', 'base_boxes', 'novel_boxes', 'images_with_novel'}`` of an OV COCO dict."""
    split_of = {c["id"]: c.get("split", "base") for c in coco["categories"]}
    splits = [split_of[a["category_id"]] for a in coco["annotations"]]
    novel_images = {a["image_id"] for a, s in zip(coco["annotations"], splits) if s == "novel"}
    return dict(images=len(coco["images"]), boxes=len(splits), base_boxes=splits.count("base"),
                novel_boxes=splits.count("novel"), images_with_novel=len(novel_images))


def write_ov_coco(source, out, base, novel, kind, keep_images=False):
    """Write the open-vocabulary version of the COCO json ``source`` to ``out`` (atomically); return counts.

    ``base`` and ``novel`` None: take them from the LVIS frequency field (:func:`lvis_base_novel`).
    The counts are :func:`ov_coco_counts` plus ``base_classes`` and ``novel_classes``.
    """
    if not os.path.isfile(source):
        raise MissingFile(f"COCO annotation file not found: {source}")
    with open(source) as f:
        coco = json.load(f)
    if base is None and novel is None:
        base, novel = lvis_base_novel(coco, source)
    result = ov_coco_annotations(coco, base, novel, kind, source=source, keep_images=keep_images)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, separators=(",", ":"))
    os.replace(tmp, out)
    return dict(ov_coco_counts(result), base_classes=len(base), novel_classes=len(novel))


# dataset -> default root, base, novel (None: from the LVIS frequency field), [(source, output, kind)],
# how to get the source files, and the kinds whose output keeps every image (default: none)
OV_DATASETS = {
    "coco": dict(
        root="data/coco", base=OV_COCO_BASE, novel=OV_COCO_NOVEL,
        files=[("instances_train2017.json", "instances_train2017.48.json", "train"),
               ("instances_val2017.json", "instances_val2017.65.json", "ov")],
        get="download the COCO 2017 annotations (annotations_trainval2017.zip from "
            "https://cocodataset.org/#download) and unzip them into {root}/annotations"),
    "lvis": dict(
        root="data/lvis", base=None, novel=None, keep_images=("ov",),
        files=[("lvis_v1_train.json", "lvis_v1_train.866.json", "train"),
               ("lvis_v1_val.json", "lvis_v1_val.1203.json", "ov")],
        get="download the LVIS v1 annotations (lvis_v1_train.json.zip and lvis_v1_val.json.zip from "
            "https://www.lvisdataset.org/dataset) and unzip them into {root}/annotations; the images "
            "are COCO 2017's (train2017 / val2017)"),
    "shapes": dict(
        root="data/shapes", base=SHAPES_BASE, novel=SHAPES_NOVEL,
        files=[("instances_train.json", "instances_train.base.json", "train"),
               ("instances_val.json", "instances_val.ov.json", "ov"),  # the tuning split
               ("instances_test.json", "instances_test.ov.json", "ov")],  # the report split
        get="make the demo data with `python tools/make_demo_data.py --out {root}` (run again on demo data made "
            "before there was a test split: it adds the split)"),
}


def is_up_to_date(source, output):
    """Whether ``output`` exists and is newer than ``source``."""
    return os.path.isfile(output) and os.path.getmtime(output) >= os.path.getmtime(source)


def prepare_ov_annotations(dataset, root=None, force=False):
    """Write the OV annotation files of ``dataset`` (a key of ``OV_DATASETS``) under ``root``; return ``{output path: counts dict, or None when skipped}``."""
    spec = OV_DATASETS[dataset]
    root = root or spec["root"]
    ann_dir = os.path.join(root, "annotations")
    for source, _, _ in spec["files"]:
        path = os.path.join(ann_dir, source)
        if not os.path.isfile(path):
            raise MissingFile(f"source annotation file not found: {path}. To get it, "
                              + spec["get"].format(root=root) + ".")
    results = {}
    for source, output, kind in spec["files"]:
        source, output = os.path.join(ann_dir, source), os.path.join(ann_dir, output)
        if not force and is_up_to_date(source, output):
            results[output] = None
            continue
        results[output] = write_ov_coco(source, output, spec["base"], spec["novel"], kind,
                                        keep_images=kind in spec.get("keep_images", ()))
    return results

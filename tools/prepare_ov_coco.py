"""Write the open-vocabulary annotation files (base-only train, base + novel val) of a COCO dataset.

    python tools/prepare_ov_coco.py [--dataset coco|lvis|shapes] [--data-root DIR] [--force]

coco:   data/coco/annotations/instances_train2017.json -> instances_train2017.48.json (48 base)
        data/coco/annotations/instances_val2017.json   -> instances_val2017.65.json (48 base + 17 novel)
lvis:   data/lvis/annotations/lvis_v1_train.json   -> lvis_v1_train.866.json (866 base: common + frequent)
        data/lvis/annotations/lvis_v1_val.json     -> lvis_v1_val.1203.json (866 base + 337 novel: rare;
                                                      every image kept, as LVIS evaluation needs)
shapes: data/shapes/annotations/instances_train.json   -> instances_train.base.json
        data/shapes/annotations/instances_val.json     -> instances_val.ov.json

Category ids are remapped base-first; each category keeps its original id (``orig_id``) and its
``split`` ('base' / 'novel'). LVIS's base / novel names come from each category's ``frequency``
('c' / 'f' base, 'r' novel), in category-id order. Outputs newer than their source are left alone
unless --force.
"""
import argparse
import os
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.core.errors import MissingFile
from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL, SHAPES_BASE, SHAPES_NOVEL, write_ov_coco

# dataset -> default root, base, novel (None: from the LVIS frequency field), [(source, output, kind)],
# how to get the source files, and the kinds whose output keeps every image (default: none)
DATASETS = {
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
               ("instances_val.json", "instances_val.ov.json", "ov")],
        get="make the demo data with `python tools/make_demo_data.py --out {root}`"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="coco")
    parser.add_argument("--data-root", help="dataset root (default: data/coco, data/lvis or data/shapes)")
    parser.add_argument("--force", action="store_true", help="rewrite outputs even when up to date")
    return parser.parse_args(argv)


def is_up_to_date(source, output):
    """Whether ``output`` exists and is newer than ``source``."""
    return os.path.isfile(output) and os.path.getmtime(output) >= os.path.getmtime(source)


def prepare(dataset, root=None, force=False):
    """Write the dataset's OV files; return ``{output path: counts dict, or None when skipped}``."""
    spec = DATASETS[dataset]
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


def describe(output, counts):
    """One line about an output file."""
    if counts is None:
        return f"{output}: up to date, skipped (--force rewrites it)"
    return (f"{output}: {counts['base_classes']} base / {counts['novel_classes']} novel classes, "
            f"{counts['images']} images, {counts['boxes']} boxes "
            f"(base {counts['base_boxes']}, novel {counts['novel_boxes']}; "
            f"{counts['images_with_novel']} images with novel boxes)")


def main(argv=None):
    args = parse_args(argv)
    try:
        results = prepare(args.dataset, args.data_root, args.force)
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f"prepare_ov_coco: {err.args[0] if err.args else err}")
    spec = DATASETS[args.dataset]
    if spec["base"] is None:
        print(f"{args.dataset}: base = common + frequent classes, novel = rare (LVIS frequency field)")
    else:
        print(f"{args.dataset}: {len(spec['base'])} base / {len(spec['novel'])} novel classes")
    for output, counts in results.items():
        print("  " + describe(output, counts))
    return results


if __name__ == "__main__":
    run(main)

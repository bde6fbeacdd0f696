"""Write the open-vocabulary annotation files (base-only train, base + novel evaluation splits) of a COCO dataset.

    python tools/prepare_ov_coco.py [--dataset coco|lvis|shapes] [--data-root DIR] [--force]

coco:   data/coco/annotations/instances_train2017.json -> instances_train2017.48.json (48 base)
        data/coco/annotations/instances_val2017.json   -> instances_val2017.65.json (48 base + 17 novel)
lvis:   data/lvis/annotations/lvis_v1_train.json   -> lvis_v1_train.866.json (866 base: common + frequent)
        data/lvis/annotations/lvis_v1_val.json     -> lvis_v1_val.1203.json (866 base + 337 novel: rare;
                                                      every image kept, as LVIS evaluation needs)
shapes: data/shapes/annotations/instances_train.json   -> instances_train.base.json
        data/shapes/annotations/instances_val.json     -> instances_val.ov.json (the tuning split)
        data/shapes/annotations/instances_test.json    -> instances_test.ov.json (the report split)

Category ids are remapped base-first; each category keeps its original id (``orig_id``) and its
``split`` ('base' / 'novel'). LVIS's base / novel names come from each category's ``frequency``
('c' / 'f' base, 'r' novel), in category-id order. Outputs newer than their source are left alone
unless --force.
"""
import argparse
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.ovd.splits import OV_DATASETS, prepare_ov_annotations

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(OV_DATASETS), default="coco")
    parser.add_argument("--data-root", help="dataset root (default: data/coco, data/lvis or data/shapes)")
    parser.add_argument("--force", action="store_true", help="rewrite outputs even when up to date")
    return parser.parse_args(argv)


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
    results = prepare_ov_annotations(args.dataset, args.data_root, args.force)
    spec = OV_DATASETS[args.dataset]
    if spec["base"] is None:
        print(f"{args.dataset}: base = common + frequent classes, novel = rare (LVIS frequency field)")
    else:
        print(f"{args.dataset}: {len(spec['base'])} base / {len(spec['novel'])} novel classes")
    for output, counts in results.items():
        print("  " + describe(output, counts))
    return results


if __name__ == "__main__":
    run(main)

"""Generate the synthetic shapes detection dataset (COCO format) used by the embedded demos.

    python tools/make_demo_data.py --out data/shapes --num-train 400 --num-val 100 --size 160
"""
import argparse
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.data import make_shapes_coco


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/shapes", help="dataset root (default: data/shapes)")
    parser.add_argument("--num-train", type=int, default=400, help="training images (default: 400)")
    parser.add_argument("--num-val", type=int, default=100, help="validation images (default: 100)")
    parser.add_argument("--size", type=int, default=160, help="image side in pixels (default: 160)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--min-objects", type=int, default=2, help="objects per image, lower bound")
    parser.add_argument("--max-objects", type=int, default=6, help="objects per image, upper bound")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = make_shapes_coco(
            args.out, num_train=args.num_train, num_val=args.num_val, image_size=args.size,
            seed=args.seed, min_objects=args.min_objects, max_objects=args.max_objects,
        )
    except ValueError as err:
        sys.exit(f"make_demo_data: {err}")
    state = "generated" if summary["generated"] else "already up to date, nothing rewritten"
    print(f"shapes dataset at {summary['root']} ({state})")
    for split in ("train", "val"):
        s = summary[split]
        print(f"  {split}: {s['images']} images, {s['objects']} objects "
              f"({s['objects'] / s['images']:.2f} per image)")
    print(f"  classes ({len(summary['classes'])}): {', '.join(summary['classes'])}")


if __name__ == "__main__":
    main()

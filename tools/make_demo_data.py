"""Generate a synthetic demo dataset: shapes (COCO detection), street scenes (Cityscapes) or LiDAR scenes (KITTI).

    python tools/make_demo_data.py --out data/shapes --num-train 400 --num-val 100 --num-test 300 --size 160
    python tools/make_demo_data.py --dataset cityscapes   # data/cityscapes_synthetic, 200 / 50 / 200, 128x256
    python tools/make_demo_data.py --dataset kitti        # data/kitti_synthetic, 200 / 80 / 300 frames, 40 m

Three disjoint splits: train; val, the tuning split (validation during training, every choice of
settings); test, the report split (the reported numbers, touched only by final runs through
tools/test.py). Run again on a dataset made before there was a test split: it adds the test split and
keeps train and val as they are.
"""
import argparse
import sys
from pathlib import Path

from filelock import FileLock

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.data import SPLITS, make_lidar_scenes, make_shapes_coco, make_street_scenes, prepare_kitti
from densekd.ovd.splits import SHAPES_NOVEL

# dataset -> defaults of the options left unset. Test sizes are large enough to rank methods: shapes over
# 300 novel-class objects (star, heart, crescent) for the OV demo; street scenes 200 images; LiDAR over 150
# moderate objects of each class (Cyclist, the rarest, about 0.7 a frame). LiDAR val has 80 frames, over 41
# moderate objects of each class: KITTI's AP40 of a class with n < 41 objects cannot exceed (n - 1) / 40.
DEFAULTS = {
    "shapes": dict(out="data/shapes", num_train=400, num_val=100, num_test=300, size=160, min_objects=2,
                   max_objects=6),
    "cityscapes": dict(out="data/cityscapes_synthetic", num_train=200, num_val=50, num_test=200, height=128,
                       width=256),
    "kitti": dict(out="data/kitti_synthetic", num_train=200, num_val=80, num_test=300, max_range=40.0),
}
ONLY = {"size": "shapes", "min_objects": "shapes", "max_objects": "shapes",
        "height": "cityscapes", "width": "cityscapes", "max_range": "kitti"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="shapes",
                        help="shapes: COCO-format detection set; cityscapes: street scenes in the "
                             "Cityscapes layout; kitti: LiDAR scenes in the KITTI object layout, prepared "
                             "for mmdet3d (default: shapes)")
    parser.add_argument("--out", help="dataset root (default: data/shapes, data/cityscapes_synthetic or "
                                      "data/kitti_synthetic)")
    parser.add_argument("--num-train", type=int, help="training images / frames (default: 400 shapes, 200 "
                                                      "cityscapes, 200 kitti)")
    parser.add_argument("--num-val", type=int, help="images / frames of val, the tuning split (default: 100 "
                                                    "shapes, 50 cityscapes, 80 kitti)")
    parser.add_argument("--num-test", type=int, help="images / frames of test, the report split (default: 300 "
                                                     "shapes, 200 cityscapes, 300 kitti)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--size", type=int, help="shapes: image side in pixels (default: 160)")
    parser.add_argument("--min-objects", type=int, help="shapes: objects per image, lower bound (default: 2)")
    parser.add_argument("--max-objects", type=int, help="shapes: objects per image, upper bound (default: 6)")
    parser.add_argument("--height", type=int, help="cityscapes: image height in pixels (default: 128)")
    parser.add_argument("--width", type=int, help="cityscapes: image width in pixels (default: 256)")
    parser.add_argument("--max-range", type=float, help="kitti: farthest object ahead in metres (default: 40)")
    args = parser.parse_args(argv)
    for name, dataset in ONLY.items():
        if getattr(args, name) is not None and args.dataset != dataset:
            parser.error(f"--{name.replace('_', '-')} applies to --dataset {dataset} only")
    for name, value in DEFAULTS[args.dataset].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    return args


def make_shapes(args):
    summary = make_shapes_coco(
        args.out, num_train=args.num_train, num_val=args.num_val, num_test=args.num_test, image_size=args.size,
        seed=args.seed, min_objects=args.min_objects, max_objects=args.max_objects,
    )
    state = "generated" if summary["generated"] else "already up to date, nothing rewritten"
    print(f"shapes dataset at {summary['root']} ({state})")
    for split in SPLITS:
        s = summary[split]
        per_class = s.get("objects_per_class")  # not in the summary of a dataset made by an older densekd
        novel = (f"; {sum(per_class[name] for name in SHAPES_NOVEL)} of the OV demo's novel classes "
                 f"{', '.join(SHAPES_NOVEL)}" if per_class else "")
        print(f"  {split}: {s['images']} images, {s['objects']} objects "
              f"({s['objects'] / s['images']:.2f} per image{novel})")
    print(f"  classes ({len(summary['classes'])}): {', '.join(summary['classes'])}")
    return summary


def make_cityscapes(args):
    summary = make_street_scenes(args.out, num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
                                 size=(args.height, args.width), seed=args.seed)
    state = "generated" if summary["generated"] else "already up to date, nothing rewritten"
    print(f"street scenes (Cityscapes layout, {summary['height']}x{summary['width']}) at "
          f"{summary['root']} ({state})")
    for split in SPLITS:
        s = summary[split]
        cities = ", ".join(f"{city} {n}" for city, n in s["cities"].items())
        print(f"  {split}: {s['images']} images ({cities})")
    freq = sorted(summary["class_frequencies"].items(), key=lambda item: -item[1])
    print("  pixel frequencies, train + val (ignore = void, trainId 255):")
    for start in range(0, len(freq), 5):
        print("    " + "  ".join(f"{name} {100 * f:.2f}%" for name, f in freq[start:start + 5]))
    return summary


def make_kitti(args):
    summary = make_lidar_scenes(args.out, num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
                                seed=args.seed, max_range=args.max_range)
    state = "generated" if summary["generated"] else "already up to date, nothing rewritten"
    print(f"LiDAR scenes (KITTI layout, objects up to {args.max_range:g} m) at {summary['root']} ({state})")
    for split in SPLITS:
        s = summary[split]
        objects = ", ".join(f"{name} {n}" for name, n in sorted(s["objects"].items()))
        moderate = s.get("moderate")  # not in the summary of a dataset made by an older densekd
        per_class = f" ({', '.join(f'{name} {n}' for name, n in sorted(moderate.items()))})" if moderate else ""
        print(f"  {split}: {s['frames']} frames ({s['empty_frames']} without objects), {objects}, "
              f"DontCare {s['dont_care']}; moderate {100 * s['moderate_fraction']:.1f}%{per_class}; "
              f"{s['points_per_frame']:.0f} points a frame")
    prepared = prepare_kitti(args.out)
    print_kitti_summary(prepared)
    return dict(summary, prepared=prepared)


def print_kitti_summary(prepared):
    state = "prepared" if prepared["generated"] else "already up to date, nothing rewritten"
    database = ", ".join(f"{name} {n}" for name, n in prepared["gt_database"].items())
    print(f"  mmdet3d infos + GT database ({state}): {', '.join(prepared['files'])}; "
          f"kitti_gt_database: {database}")


MAKERS = {"shapes": make_shapes, "cityscapes": make_cityscapes, "kitti": make_kitti}


def main(argv=None):
    args = parse_args(argv)
    # Two wings of the demo may make the same dataset at once: the second waits, then finds it up to date.
    try:
        with FileLock(f"{args.out.rstrip('/')}.lock"):
            return MAKERS[args.dataset](args)
    except ValueError as err:
        sys.exit(f"make_demo_data: {err}")


if __name__ == "__main__":
    run(main)

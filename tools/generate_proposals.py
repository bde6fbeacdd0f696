"""Run a trained class-agnostic RPN on every image of a split; store each image's top proposals.

    python tools/generate_proposals.py CONFIG CHECKPOINT --split train|val|test --out DIR
        [--topk 100] [--devices N] [--accelerator auto|cpu|cuda] [--shard-size 64] [--overwrite]
        [--cfg-options k=v ...]

The store (densekd.ovd.feature_store) holds per image ``boxes`` (P, 4) float32 xyxy in the
ORIGINAL image's pixels and ``objectness`` (P,) float32, sorted descending, P <= topk. Images go
through the config's test pipeline (no flip); boxes are scaled back to the original image. An
interrupted run continues where it stopped when run again with the same arguments.
"""
import argparse
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.core.config import DictAction
from densekd.ovd.proposals import generate_proposals

SPLITS = ("train", "val", "test")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="an RPN config (model.type='RPN'), "
                                       "e.g. configs/demo/rpn_shapes_base.py")
    parser.add_argument("checkpoint", help="its densekd training checkpoint (last.ckpt) or exported weights")
    parser.add_argument("--split", choices=SPLITS, required=True, help="whose dataset to run on")
    parser.add_argument("--out", required=True, help="the store's directory")
    parser.add_argument("--topk", type=int, default=100, help="proposals kept per image (default: 100)")
    parser.add_argument("--devices", type=int, default=1, help="worker processes, one per device")
    parser.add_argument("--accelerator", choices=["auto", "cpu", "cuda", "gpu"], default="auto")
    parser.add_argument("--shard-size", type=int, default=64, help="images per shard file")
    parser.add_argument("--overwrite", action="store_true", help="discard an existing store at --out")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    summary = generate_proposals(args.config, args.checkpoint, args.split, args.out, args.topk, args.devices,
                                 args.accelerator, args.shard_size, args.overwrite, args.cfg_options)
    boxes = summary["fields"]["boxes"]["rows"]
    print(f"proposals for {summary['images']} {args.split} images ({summary['new_images']} computed now) "
          f"in {summary['seconds']:.1f} s: {boxes / summary['images']:.1f} proposals/image, "
          f"{summary['bytes']} bytes in {summary['shards']} shards "
          f"({summary['bytes'] / summary['images']:.0f} bytes/image) -> {args.out}")
    return summary


if __name__ == "__main__":
    run(main)

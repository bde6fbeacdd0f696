"""Write OADP's CLIP teacher targets (global, block and object embeddings) for a dataset split.

    python tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split train
    python tools/extract_clip_features.py configs/ovd/clip_features_coco.py --split train --devices 8 --accelerator cuda

The config holds ``clip_teacher`` (see ObjectAwareCLIP) and ``clip_features``: per split the
annotation file, image folder, proposal store (tools/generate_proposals.py) and output folder,
plus ``max_proposals`` and ``dtype``. Output: safetensors shards, resumable — rerun the same
command after an interruption and it verifies the finished shards and does the rest.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from densekd.core.cli import run  # noqa: E402
from densekd.core.config import DictAction, load_config  # noqa: E402
from densekd.ovd.teacher_features import extract_clip_features  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--split", required=True, help="a key of clip_features.splits (train, val, test)")
    parser.add_argument("--devices", type=int, default=1, help="worker processes (one per GPU with --accelerator cuda)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", help="output folder (default: the config's clip_features.splits.SPLIT.out)")
    parser.add_argument("--overwrite", action="store_true", help="discard an existing store written with other settings")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={})
    return parser.parse_args(argv)


def format_summary(summary, split):
    """The run's summary as a few human lines."""
    images = max(summary["images"], 1)
    rows = {name: field["rows"] for name, field in summary["fields"].items()}
    lines = [f"CLIP features, split {split}: {summary['images']} images ({summary['new_images']} new) "
             f"in {summary['shards']} shards, {summary['seconds']:.1f} s",
             f"  objects {rows['objects']} ({rows['objects'] / images:.1f}/image), "
             f"blocks {rows['blocks']} ({rows['blocks'] / images:.1f}/image)"]
    lines.append(f"  {summary['bytes'] / 2**20:.2f} MiB, {summary['bytes'] / images / 1024:.1f} KiB/image")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, required=("clip_teacher", "clip_features"))
    summary = extract_clip_features(cfg, args.split, args.out, args.devices, args.accelerator, args.overwrite)
    print(format_summary(summary, args.split))
    return summary


if __name__ == "__main__":
    run(main)

"""Run a trained class-agnostic RPN on every image of a split; store each image's top proposals.

    python tools/generate_proposals.py CONFIG CHECKPOINT --split train|val --out DIR
        [--topk 100] [--devices N] [--accelerator auto|cpu|cuda] [--shard-size 64] [--overwrite]
        [--cfg-options k=v ...]

The store (densekd.ovd.feature_store) holds per image ``boxes`` (P, 4) float32 xyxy in the
ORIGINAL image's pixels and ``objectness`` (P,) float32, sorted descending, P <= topk. Images go
through the config's test pipeline (no flip); boxes are scaled back to the original image. An
interrupted run continues where it stopped when run again with the same arguments.
"""
import argparse
import functools
import hashlib
import os
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from densekd.core.cli import run
from densekd.core.errors import MissingFile
from densekd.core.config import DictAction
from densekd.ovd.feature_store import write_store
from densekd.ovd.proposals import build_proposal_worker, load_split, rpn_model_cfg

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


def sha256_prefix(path, length=16):
    """The first ``length`` hex digits of the file's SHA-256."""
    if not os.path.isfile(path):
        raise MissingFile(f"checkpoint not found: {path} — train the RPN first with "
                                "`python tools/train.py CONFIG`")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(functools.partial(f.read, 1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def resolve_accelerator(accelerator):
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return accelerator


def main(argv=None):
    args = parse_args(argv)
    options = dict(args.cfg_options)
    cfg, dataset, _ = load_split(args.config, options, args.split)
    rpn_model_cfg(cfg, args.topk)  # fail now, not in a worker, on a non-RPN config
    image_ids = [dataset.get_data_info(i)["img_id"] for i in range(len(dataset))]
    metadata = dict(kind="proposals", config=os.path.normpath(args.config), split=args.split,
                    checkpoint_sha256=sha256_prefix(args.checkpoint), topk=str(args.topk),
                    ann_file=os.path.normpath(dataset.ann_file), boxes="xyxy float32, original image pixels",
                    objectness="RPN objectness (sigmoid), float32, sorted descending")
    worker = functools.partial(build_proposal_worker, config=args.config, cfg_options=options,
                               checkpoint=args.checkpoint, split=args.split, topk=args.topk)
    summary = write_store(args.out, image_ids, worker, metadata=metadata, devices=args.devices,
                          accelerator=resolve_accelerator(args.accelerator), shard_size=args.shard_size,
                          overwrite=args.overwrite, desc=f"proposals ({args.split})")
    boxes = summary["fields"]["boxes"]["rows"]
    print(f"proposals for {summary['images']} {args.split} images ({summary['new_images']} computed now) "
          f"in {summary['seconds']:.1f} s: {boxes / summary['images']:.1f} proposals/image, "
          f"{summary['bytes']} bytes in {summary['shards']} shards "
          f"({summary['bytes'] / summary['images']:.0f} bytes/image) -> {args.out}")
    return summary


if __name__ == "__main__":
    run(main)

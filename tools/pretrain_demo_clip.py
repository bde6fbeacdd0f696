"""Pretrain the demo's tiny CLIP on the shapes training images: the offline stand-in for web-scale CLIP.

    python tools/pretrain_demo_clip.py                 # ~15 min on 2 CPU cores, then zero-shot eval
    python tools/pretrain_demo_clip.py --eval-only     # zero-shot eval of the saved weights
    python tools/pretrain_demo_clip.py --reuse results/demo_full/clip/demo_clip.safetensors
                                                       # copy those weights if this recipe made them from this data

The recipe is ``densekd.ovd.demo_clip`` (its flags: ``DemoClipRecipe``). The weights go to the teacher
config's ``pretrained`` path as safetensors; ``<out>.json`` next to them records the arguments, the
loss and the zero-shot top-1 accuracy of the val ground-truth boxes (plain crops and object-aware).
"""
import argparse
import importlib.util
import os
import sys
from dataclasses import asdict, fields
from pathlib import Path

if importlib.util.find_spec("densekd") is None:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from densekd.core.cli import run
from densekd.data.manifest import read_json_or_none, write_json_atomic
from densekd.ovd.clip_teacher import clip_teacher_spec
from densekd.ovd.demo_clip import DemoClipRecipe, pretrain_demo_clip, record_path, reuse_weights, zero_shot_eval


def parse_args(argv=None):
    """The parsed flags and the :class:`DemoClipRecipe` they make (its defaults are the flags' defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--data", default="data/shapes", help="shapes dataset root (default: %(default)s)")
    add("--teacher", default="configs/demo/clip_teacher_shapes.py", help="teacher config (default: %(default)s)")
    add("--out", help="weights file (.safetensors; default: the teacher config's `pretrained`)")
    add("--steps", type=int, help="optimiser steps (default: %(default)s)")
    add("--batch-size", type=int, help="views per step (default: %(default)s)")
    add("--lr", type=float, help="peak AdamW learning rate (default: %(default)s)")
    add("--weight-decay", type=float, help="AdamW weight decay (default: %(default)s)")
    add("--clip-grad", type=float, help="gradient-norm clip, 0 = off (default: %(default)s)")
    add("--warmup", type=int, help="linear warm-up steps (default: 10%% of --steps)")
    add("--scene-fraction", type=float, help="share of scene views, multi-object captions (default: %(default)s)")
    add("--tight-fraction", type=float, help="share of object views cropped tightly (default: %(default)s)")
    add("--context-ratio", type=float, nargs=2, metavar=("LOW", "HIGH"),
        help="context squares have side sqrt(r w h), r uniform in [LOW, HIGH] (default: %(default)s)")
    add("--object-token-fraction", type=float,
        help="share of context squares embedded through the OAKE object token, not CLS (default: %(default)s)")
    add("--curriculum", type=float, help="share of the steps over which harder views ramp up (default: %(default)s)")
    add("--proposal-jitter", type=float, help="context views' object boxes move like RPN proposals: each edge by up "
        "to this share of the box size, IoU >= 0.5 with the object (default: %(default)s)")
    add("--seed", type=int, help="random seed (default: %(default)s)")
    add("--device", default="cpu", help="torch device for training and evaluation (default: %(default)s)")
    add("--threads", type=int, help="torch CPU threads (default: torch's)")
    add("--eval-only", action="store_true", help="only the zero-shot evaluation of --out")
    add("--reuse", metavar="WEIGHTS", help="copy these weights (and their record) to --out instead of pretraining "
        "when their record shows this recipe made them from this model config and these training images")
    add("--no-eval", action="store_true", help="skip the zero-shot evaluation")
    add("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(**{**asdict(DemoClipRecipe()), "warmup": None})
    args = parser.parse_args(argv)
    try:
        recipe = DemoClipRecipe(**{field.name: getattr(args, field.name) for field in fields(DemoClipRecipe)})
    except ValueError as err:
        parser.error(str(err))
    args.warmup = recipe.warmup  # the record keeps the warm-up actually used
    return args, recipe


def main(argv=None):
    args, recipe = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        spec = clip_teacher_spec(args.teacher)
        out = args.out or spec.get("pretrained")
        if not out or not str(out).endswith(".safetensors"):
            raise ValueError(f"the weights path must end in .safetensors, got {out!r} "
                             f"(from {'--out' if args.out else args.teacher + ' clip_teacher.pretrained'})")
        record, why_not = reuse_weights(args.reuse, out, spec, args.data, recipe) if args.reuse else (None, None)
        if record:  # its record holds the zero-shot evaluation of the same weights
            print(f"reused {args.reuse}: this recipe made them from this data (pretrained in {record['seconds']} s)")
        elif args.eval_only:
            if not os.path.isfile(out):
                raise FileNotFoundError(f"no weights at {out} — train first (without --eval-only)")
            record = read_json_or_none(record_path(out)) or {}
        else:
            if why_not:
                print(f"not reusing {args.reuse}: {why_not}; pretraining")
            _, summary = pretrain_demo_clip(spec, args.data, out, recipe, args.device, not args.no_progress)
            record = dict(args=vars(args), **summary)
            print(f"trained {args.steps} steps x {args.batch_size} views in {summary['seconds']} s: "
                  f"loss {summary['first_loss']} -> {summary['final_loss']}; wrote {out}")
        if not (args.no_eval or "reused_from" in record):
            record.update(zero_shot_eval(args.teacher, out, args.data, args.device))
            print(f"\nzero-shot top-1 accuracy (%) on {args.data} val ground-truth boxes:\n{record['zero_shot_table']}")
    except (FileNotFoundError, KeyError, ValueError, FloatingPointError) as err:
        sys.exit(f"pretrain_demo_clip: {err}")
    write_json_atomic(record_path(out), record, indent=2)
    print(f"wrote {record_path(out)}")


if __name__ == "__main__":
    run(main)

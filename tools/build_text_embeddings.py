"""Embed a vocabulary's class names with a CLIP teacher (ViLD prompt ensemble) into a safetensors file.

    python tools/build_text_embeddings.py --teacher configs/demo/clip_teacher_shapes.py \\
        --vocabulary shapes --out work_dirs/demo/clip/shapes_text.safetensors
    python tools/build_text_embeddings.py --teacher configs/_base_/clip/vit_b32_openai.py \\
        --vocabulary lvis --out data/prompts/lvis_vild.safetensors
    ... --cfg-options clip_teacher.pretrained=work_dirs/demo_full/clip/demo_clip.safetensors  (other weights)

The file holds ``embeddings`` (C, D) float32, unit rows; its metadata holds ``names`` (JSON list,
the vocabulary's own spelling), ``num_templates``, ``vocabulary``, ``model_name``, ``pretrained``.
Read it with ``densekd.ovd.text.load_text_embeddings``.
"""
import argparse
import importlib.util
import sys
import time
from pathlib import Path

if importlib.util.find_spec("densekd") is None:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from densekd.core.cli import run
from densekd.core.config import DictAction
from densekd.ovd.clip_teacher import ObjectAwareCLIP, clip_teacher_spec
from densekd.ovd.text import (
    VILD_TEMPLATES,
    VOCABULARIES,
    config_names,
    save_text_embeddings,
    text_embeddings,
    vocabulary_names,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True,
                        help="config with a `clip_teacher = dict(...)` (e.g. configs/demo/clip_teacher_shapes.py)")
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument("--vocabulary", choices=VOCABULARIES, help="a named vocabulary")
    names.add_argument("--classes-from", metavar="CONFIG", help="a densekd config: its dataset classes")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--batch-size", type=int, default=1024, help="texts per teacher call (default: 1024)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="override the teacher config, e.g. clip_teacher.pretrained=PATH")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.out.endswith(".safetensors"):
        sys.exit(f"build_text_embeddings: --out must end in .safetensors, got {args.out}")
    try:
        if args.vocabulary:
            names, source = vocabulary_names(args.vocabulary), args.vocabulary
        else:
            names, source = config_names(args.classes_from), f"config:{args.classes_from}"
        spec = clip_teacher_spec(args.teacher, args.cfg_options)
        teacher = ObjectAwareCLIP.from_config(spec)
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f"build_text_embeddings: {err}")
    except RuntimeError as err:  # open_clip could not fetch the weights of a tag
        sys.exit(f"build_text_embeddings: {err}\nOffline? Set clip_teacher.pretrained in {args.teacher} to a "
                 "local weights file (see the comment in configs/_base_/clip/vit_b32_openai.py).")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    teacher.to(device)
    start = time.time()
    embeddings = text_embeddings(teacher, names, VILD_TEMPLATES, batch_size=args.batch_size,
                                 progress=len(names) * len(VILD_TEMPLATES) > args.batch_size)
    save_text_embeddings(
        args.out, embeddings, names, num_templates=len(VILD_TEMPLATES), templates="vild",
        vocabulary=source, teacher_config=args.teacher, model_name=spec["model_name"],
        pretrained=spec.get("pretrained"),
    )
    print(f"{len(names)} classes x {len(VILD_TEMPLATES)} templates -> embeddings "
          f"{tuple(embeddings.shape)} in {time.time() - start:.1f} s ({device})")
    print(f"first names: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run(main)

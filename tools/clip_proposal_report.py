"""How well the CLIP teacher names the proposals it is distilled from: per-class top-1 of the cached
object embeddings against the ground truth under each proposal, a table and a confusion picture.

    python tools/clip_proposal_report.py --cache work_dirs/demo/clip_features/train \
        --text work_dirs/demo/clip/shapes_text.safetensors \
        --ann data/shapes/annotations/instances_train.json --out work_dirs/demo/clip_proposals
"""
import argparse
import json
import os
import sys

from densekd.core.cli import run
from densekd.ovd.splits import SHAPES_NOVEL
from densekd.ovd.teacher_report import confusion_summary, confusion_table, plot_confusion, proposal_confusion


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="a CLIP feature cache (tools/extract_clip_features.py)")
    parser.add_argument("--text", required=True, help="class text embeddings (tools/build_text_embeddings.py)")
    parser.add_argument("--ann", required=True, help="the split's FULL COCO annotations, novel classes included")
    parser.add_argument("--novel", nargs="*", default=list(SHAPES_NOVEL), help="names to mark novel in the table")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU for a proposal to count as its GT box's class")
    parser.add_argument("--out", required=True, help="folder for report.md, report.json and confusion.png")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        matrix, classes = proposal_confusion(args.cache, args.text, args.ann, args.iou)
    except (FileNotFoundError, KeyError) as err:
        sys.exit(f"clip_proposal_report: {err}")
    os.makedirs(args.out, exist_ok=True)
    table = confusion_table(matrix, classes, args.novel)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(dict(classes=classes, confusion=matrix.tolist(), iou=args.iou,
                       summary=confusion_summary(matrix, classes, args.novel)), f, indent=2)
    plot_confusion(matrix, classes, os.path.join(args.out, "confusion.png"))
    print(table)
    print(f"written: {args.out}/report.md, report.json, confusion.png")


if __name__ == "__main__":
    run(main)

"""The CLIP teacher as a detector: cached base-RPN proposals named by their object-aware CLIP embeddings,
scored, per-class NMS, AP50 over novel / base / all classes (densekd.ovd.teacher_detector).

    python tools/clip_detector_eval.py --cache work_dirs/demo/clip_features/test \
        --text work_dirs/demo/clip/shapes_text.safetensors \
        --ann data/shapes/annotations/instances_test.json --out work_dirs/demo/clip_detector
"""
import argparse
import os

from densekd.core.cli import run
from densekd.core.report import markdown_table
from densekd.data.manifest import write_json_atomic
from densekd.ovd.metrics import OV_KEY
from densekd.ovd.splits import SHAPES_NOVEL
from densekd.ovd.teacher_detector import CLIP_LOGIT_SCALE, evaluate_detections, teacher_detections


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="the split's CLIP feature cache (tools/extract_clip_features.py)")
    parser.add_argument("--text", required=True, help="class text embeddings (tools/build_text_embeddings.py)")
    parser.add_argument("--ann", required=True, help="the split's FULL COCO annotations, novel classes included")
    parser.add_argument("--novel", nargs="+", default=list(SHAPES_NOVEL), help="the novel class names")
    parser.add_argument("--logit-scale", type=float, default=CLIP_LOGIT_SCALE, help="CLIP's softmax scale")
    parser.add_argument("--out", required=True, help="folder for metrics.json")
    return parser.parse_args(argv)


def ap50_table(metrics, novel):
    """Each class's AP50, then the novel / base / all means, as a markdown table."""
    head = f"{OV_KEY}/AP50/"
    rows = [dict(cls=key[len(head):], split="novel" if key[len(head):] in novel else "base",
                 AP50="-" if value < 0 else f"{value:.3f}")
            for key, value in metrics.items() if key.startswith(head)]
    rows += [dict(cls=f"*{group}*", AP50=f"{metrics[f'{OV_KEY}/AP50_{group}']:.3f}") for group in ("novel", "base", "all")]
    return markdown_table(rows, ["cls", "split", "AP50"])


def main(argv=None):
    args = parse_args(argv)
    detections, classes = teacher_detections(args.cache, args.text, args.logit_scale)
    metrics = evaluate_detections(detections, classes, args.ann, args.novel)
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(os.path.join(args.out, "metrics.json"), metrics, indent=2)
    print(ap50_table(metrics, args.novel))
    print(f"written: {args.out}/metrics.json")
    return metrics


if __name__ == "__main__":
    run(main)

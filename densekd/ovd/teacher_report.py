"""How well the CLIP teacher names what the student will distil: the top-1 class of each cached
object embedding (OAKE on a base-class RPN's proposals) against the class of the ground-truth box
the proposal covers, as a confusion matrix over classes plus a background row.

The ground truth here must hold every box, novel classes included (e.g. the full COCO / shapes
train annotations): the report measures the teacher, not the student, so no label reaches training.
"""
import json
import os

import torch
from mmdet.structures.bbox import bbox_overlaps

from ..core.errors import MissingFile, UnknownKey
from .feature_store import FeatureStore
from .proposal_recall import gt_boxes_by_image
from .text import load_text_embeddings

__all__ = ["full_annotations", "ground_truth_boxes", "proposal_confusion", "confusion_summary", "confusion_table", "plot_confusion"]

BACKGROUND = "background"


def full_annotations(ann_file, classes):
    """The COCO dict of a split's full annotations, checked to name only ``classes`` (the text embeddings')."""
    if not os.path.isfile(ann_file):
        raise MissingFile(f"annotation file not found: {ann_file} — it must be the split's full "
                          "annotations (novel classes included), e.g. data/shapes/annotations/instances_train.json")
    with open(ann_file) as f:
        coco = json.load(f)
    missing = sorted({c["name"] for c in coco["categories"]} - set(classes))
    if missing:
        raise UnknownKey(f"{ann_file} has classes {missing} that the text embeddings lack ({classes})")
    return coco


def ground_truth_boxes(ann_file, classes):
    """``{image_id: (boxes (G, 4) xyxy, labels (G,) indices into classes)}`` from a COCO file (crowds
    left out; images without boxes are absent)."""
    coco = full_annotations(ann_file, classes)
    boxes, labels = gt_boxes_by_image(coco, lambda category: classes.index(category["name"]))
    return {i: (torch.from_numpy(boxes[i]), torch.from_numpy(labels[i]).long()) for i in boxes}


def proposal_confusion(cache, text_file, ann_file, iou_thr=0.5):
    """Confusion ``(K + 1, K)`` of the object embeddings in the feature cache directory ``cache``:
    row = the class of the ground-truth box with the highest IoU (>= ``iou_thr``; row K: none, i.e.
    background), column = the class whose text embedding is nearest (top-1 cosine).
    Returns ``(matrix, classes)``."""
    text, classes, _ = load_text_embeddings(text_file)
    text = torch.nn.functional.normalize(text.float(), dim=-1)
    truth = ground_truth_boxes(ann_file, classes)
    store = FeatureStore(cache)
    matrix = torch.zeros(len(classes) + 1, len(classes), dtype=torch.long)
    for image_id in store.image_ids():
        targets = store.get(image_id)
        boxes, embeddings = targets["object_boxes"].float(), targets["objects"].float()
        if not len(boxes):
            continue
        gt_boxes, gt_labels = truth.get(image_id, (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)))
        rows = torch.full((len(boxes),), len(classes), dtype=torch.long)
        if len(gt_boxes):
            best_iou, best = bbox_overlaps(boxes, gt_boxes).max(dim=1)
            rows = torch.where(best_iou >= iou_thr, gt_labels[best], rows)
        predicted = (embeddings @ text.T).argmax(dim=1)
        matrix.index_put_((rows, predicted), torch.ones_like(rows), accumulate=True)
    return matrix, list(classes)


def confusion_summary(matrix, classes, novel=()):
    """Per true class: proposals, top-1 accuracy and the most frequent wrong answer; then the share of
    background proposals and what they are called. A list of row dicts (accuracies in [0, 1])."""
    rows = []
    for i, name in enumerate([*classes, BACKGROUND]):
        counts = matrix[i]
        total = int(counts.sum())
        wrong = counts.clone()
        if i < len(classes):
            wrong[i] = 0
        top_wrong = int(wrong.argmax()) if wrong.sum() else None
        rows.append(dict(
            cls=name, split="novel" if name in novel else ("-" if name == BACKGROUND else "base"), proposals=total,
            top1=(counts[i].item() / total if total and i < len(classes) else None),
            most_called=(f"{classes[top_wrong]} ({wrong[top_wrong].item() / total:.0%})" if top_wrong is not None
                         else "-")))
    return rows


def confusion_table(matrix, classes, novel=()):
    """The summary as a markdown table (top-1 in %)."""
    lines = ["| true class | split | proposals | top-1 (%) | most often called (wrongly) |",
             "|---|---|---:|---:|---|"]
    for row in confusion_summary(matrix, classes, novel):
        top1 = "-" if row["top1"] is None else f"{100 * row['top1']:.1f}"
        lines.append(f"| {row['cls']} | {row['split']} | {row['proposals']} | {top1} | {row['most_called']} |")
    fg = matrix[:-1]
    if fg.sum():
        lines.append(f"| *all objects* | | {int(fg.sum())} | {100 * fg.diagonal().sum().item() / fg.sum().item():.1f} | |")
    return "\n".join(lines)


def plot_confusion(matrix, classes, path, title="CLIP teacher on proposals"):
    """A row-normalised heat map of the confusion matrix, saved to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.float() / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(classes), 1 + 0.5 * (len(classes) + 1)))
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes) + 1), [f"{c} ({int(n)})" for c, n in zip([*classes, BACKGROUND], matrix.sum(1))])
    for i, row in enumerate(rows.tolist()):
        for j, value in enumerate(row):
            if value >= 0.05:
                ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.5 else "black")
    ax.set_xlabel("nearest class text (top-1)")
    ax.set_ylabel("ground truth under the proposal (IoU >= 0.5)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)

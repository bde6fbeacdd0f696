"""ProposalRecall: class-agnostic proposal recall, split by the base / novel classes of an OV COCO file.

A ground-truth box counts as recalled at IoU t by the top n proposals when one of them overlaps it
by at least t (each box on its own: no one-to-one matching, unlike mmdet's ``proposal_fast``, which
can therefore be slightly lower). Reported per class split (``split`` field of the categories, as
written by :func:`densekd.ovd.splits.ov_coco_annotations`), and for all boxes:

    proposal/{base,novel,all}_R50@{n}   recall at IoU 0.5
    proposal/{base,novel,all}_AR@{n}    recall averaged over IoU 0.50:0.05:0.95 (COCO's AR)

Register it with ``custom_imports = dict(imports=['densekd.ovd.proposal_recall'])``.
"""
import json
import os

import numpy as np
import torch
from mmdet.registry import METRICS
from mmdet.structures.bbox import bbox_overlaps
from mmengine.evaluator import BaseMetric
from ..core.errors import InvalidValue, MissingFile

COCO_IOU_THRS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


def gt_boxes_by_image(coco, label_of):
    """``({image_id: (G, 4) xyxy float32}, {image_id: (G,) labels})`` of a loaded COCO dict, crowds left
    out; ``label_of(category)`` gives each box's label from its category entry."""
    label = {c["id"]: label_of(c) for c in coco["categories"]}
    boxes, labels = {}, {}
    for ann in coco["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("ignore", False):
            continue
        x, y, w, h = ann["bbox"]
        boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
        labels.setdefault(ann["image_id"], []).append(label[ann["category_id"]])
    boxes = {k: np.asarray(v, dtype=np.float32) for k, v in boxes.items()}
    return boxes, {k: np.asarray(v) for k, v in labels.items()}


def load_gt_boxes(ann_file):
    """``({image_id: (G, 4) xyxy float32}, {image_id: (G,) split names})`` of a COCO file, crowds left out."""
    if not os.path.isfile(ann_file):
        raise MissingFile(f"ProposalRecall ann_file not found: {ann_file}. For the shapes demo "
                          "run `python tools/prepare_ov_coco.py --dataset shapes`.")
    with open(ann_file) as f:
        coco = json.load(f)
    return gt_boxes_by_image(coco, lambda category: category.get("split", "all"))


@METRICS.register_module()
class ProposalRecall(BaseMetric):
    """Recall of the top ``proposal_nums`` proposals per class split (base / novel / all)."""

    default_prefix = "proposal"

    def __init__(self, ann_file, proposal_nums=(100, 300), iou_thrs=COCO_IOU_THRS,
                 collect_device="cpu", prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if 0.5 not in [round(float(t), 2) for t in iou_thrs]:
            raise InvalidValue(f"iou_thrs must include 0.5 (for R50), got {list(iou_thrs)}")
        self.proposal_nums = sorted(int(n) for n in proposal_nums)
        self.iou_thrs = np.asarray(iou_thrs, dtype=np.float32)
        self.gt_boxes, self.gt_splits = load_gt_boxes(ann_file)

    def process(self, data_batch, data_samples):
        """Keep, per ground-truth box, its best IoU with the top n proposals for each n: (G, len(nums))."""
        for sample in data_samples:
            image_id = sample["img_id"]
            gt = self.gt_boxes.get(image_id, np.zeros((0, 4), np.float32))
            pred = sample["pred_instances"]
            order = torch.argsort(pred["scores"].float().cpu(), descending=True, stable=True)
            boxes = pred["bboxes"].float().cpu()[order[:self.proposal_nums[-1]]]
            best = np.zeros((len(gt), len(self.proposal_nums)), np.float32)
            if len(gt) and len(boxes):
                ious = bbox_overlaps(torch.from_numpy(gt), boxes).numpy()  # (G, P)
                for j, n in enumerate(self.proposal_nums):
                    best[:, j] = ious[:, :n].max(axis=1)
            self.results.append((best, self.gt_splits.get(image_id, np.zeros(0, dtype="<U5"))))

    def compute_metrics(self, results):
        """R50 and AR at each proposal number, per split and for all boxes."""
        best = np.concatenate([r[0] for r in results]) if results else np.zeros((0, len(self.proposal_nums)))
        splits = np.concatenate([r[1] for r in results]) if results else np.zeros(0, dtype="<U5")
        metrics = {}
        groups = [s for s in ("base", "novel") if (splits == s).any()] + ["all"]
        for group in groups:
            chosen = best if group == "all" else best[splits == group]
            for j, n in enumerate(self.proposal_nums):
                hits = chosen[:, j, None] >= self.iou_thrs[None, :] - 1e-6  # (G, T)
                recall = hits.mean(axis=0) if len(chosen) else np.zeros(len(self.iou_thrs))
                metrics[f"{group}_R50@{n}"] = float(recall[np.isclose(self.iou_thrs, 0.5)][0])
                metrics[f"{group}_AR@{n}"] = float(recall.mean())
        return metrics

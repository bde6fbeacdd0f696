"""OVCocoAP50Metric: mmdet's COCO bbox metric plus the open-vocabulary AP50 over novel / base / all classes.

(Not named OVCocoMetric: mmdet 3.3 registers a metric of that name, for its grounding models, which
reads base / novel names from the dataset meta and reports mAP, not AP50.)

Besides everything :class:`mmdet.evaluation.CocoMetric` reports (``coco/bbox_mAP``, ...), it adds

    ov/AP50_novel   bbox AP at IoU 0.5 averaged over the novel classes (OV-COCO's headline number)
    ov/AP50_base    the same over the base classes (every dataset class not named novel)
    ov/AP50_all     the same over all classes
    ov/AP50/<name>  each class's AP50 (only with ``classwise=True``)

Each class's AP50 is the mean of pycocotools COCOeval's accumulated 101-point precision at IoU 0.5,
area 'all', maxDets = the largest of ``proposal_nums`` (300 in OADP's OV-COCO setting when the
detector keeps 300 boxes per image). Classes without ground truth are left out of the averages; a
group with no class left reports -1.0, as COCOeval does. The ``ov/`` keys carry no ``coco/``
prefix. Register it with ``custom_imports = dict(imports=['densekd.ovd.metrics'])``:

    val_evaluator = dict(type='OVCocoAP50Metric', ann_file='data/coco/annotations/instances_val2017.65.json',
                         metric='bbox', proposal_nums=(100, 300, 1000),
                         novel_classes=OV_COCO_NOVEL)
"""
import difflib
import os.path as osp
import tempfile
from collections import Counter

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger

OV_KEY = "ov"


def ap50_per_category(coco_gt, coco_dt, cat_ids, img_ids, max_dets):
    """``{category id: bbox AP at IoU 0.5, or None when it has no ground truth}`` from COCOeval.

    The AP is COCO's: mean of the 101-point interpolated precision, area 'all', at most
    ``max_dets`` detections per image.
    """
    coco_eval = COCOeval(coco_gt, coco_dt, "bbox")
    coco_eval.params.catIds = list(cat_ids)
    coco_eval.params.imgIds = list(img_ids)
    coco_eval.params.maxDets = [int(max_dets)]
    coco_eval.params.iouThrs = np.array([0.5])
    coco_eval.evaluate()
    coco_eval.accumulate()
    # precision: (iou thresholds, recall thresholds, categories, area ranges, max dets); -1 = no GT
    precision = coco_eval.eval["precision"][0, :, :, 0, -1]  # (101, C)
    return {cat_id: (float(precision[:, k].mean()) if (precision[:, k] > -1).all() else None)
            for k, cat_id in enumerate(coco_eval.params.catIds)}


def mean_ap(aps):
    """Mean of the APs that are not None; -1.0 when none is left (COCOeval's 'no ground truth')."""
    kept = [ap for ap in aps if ap is not None]
    return float(np.mean(kept)) if kept else -1.0


def empty_detections(coco_gt):
    """A COCO object with ``coco_gt``'s images and categories and no detection (loadRes rejects [])."""
    coco_dt = COCO()
    coco_dt.dataset = dict(images=list(coco_gt.dataset["images"]),
                           categories=list(coco_gt.dataset["categories"]), annotations=[])
    coco_dt.createIndex()
    return coco_dt


@METRICS.register_module()
class OVCocoAP50Metric(CocoMetric):
    """CocoMetric that also reports bbox AP50 over the novel, base and all classes (``ov/AP50_*``)."""

    def __init__(self, novel_classes, ann_file=None, metric="bbox", **kwargs):
        super().__init__(ann_file=ann_file, metric=metric, **kwargs)
        if "bbox" not in self.metrics:
            raise ValueError(f"OVCocoAP50Metric reports bbox AP50, so metric must include 'bbox'; got {self.metrics}")
        if isinstance(novel_classes, str) or not novel_classes:
            raise ValueError("OVCocoAP50Metric novel_classes must be a non-empty tuple of class names, "
                             f"got {novel_classes!r}")
        repeated = sorted(n for n, c in Counter(novel_classes).items() if c > 1)
        if repeated:
            raise ValueError(f"OVCocoAP50Metric novel_classes repeat: {repeated}; give each name once")
        self.novel_classes = tuple(novel_classes)

    @CocoMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta):
        """Set the dataset meta info, checking at once that every novel class is one of its classes."""
        self._dataset_meta = dataset_meta
        if dataset_meta is not None:
            self._check_novel_classes(dataset_meta["classes"])

    def _check_novel_classes(self, classes):
        """Raise a ValueError naming each novel class that is not among ``classes``."""
        missing = [n for n in self.novel_classes if n not in classes]
        if missing:
            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, list(classes), n=3, cutoff=0.5)
                hints.append(f"'{name}'" + (f" (close: {', '.join(close)})" if close else ""))
            raise ValueError(f"OVCocoAP50Metric novel_classes not among the {len(classes)} dataset classes: "
                             f"{'; '.join(hints)}. The dataset classes are: {', '.join(classes)}. "
                             "Fix novel_classes (or the dataset's metainfo classes) so they match.")

    def compute_metrics(self, results):
        """CocoMetric's metrics, then the ``ov/AP50_*`` ones from the same bbox result file."""
        given_prefix, tmp_dir = self.outfile_prefix, None
        if given_prefix is None:  # keep CocoMetric's result file alive long enough to reuse it
            tmp_dir = tempfile.TemporaryDirectory()
            self.outfile_prefix = osp.join(tmp_dir.name, "results")
        try:
            eval_results = super().compute_metrics(results)
            if self.format_only:
                return eval_results
            eval_results.update(self._ov_ap50(load(f"{self.outfile_prefix}.bbox.json")))
        finally:
            self.outfile_prefix = given_prefix
            if tmp_dir is not None:
                tmp_dir.cleanup()
        return eval_results

    def _ov_ap50(self, detections):
        """``{'ov/AP50_novel', 'ov/AP50_base', 'ov/AP50_all'[, 'ov/AP50/<name>' ...]}`` of COCO-json detections."""
        classes = self.dataset_meta["classes"]
        self._check_novel_classes(classes)
        coco_dt = self._coco_api.loadRes(detections) if detections else empty_detections(self._coco_api)
        max_dets = max(self.proposal_nums)
        by_id = ap50_per_category(self._coco_api, coco_dt, self.cat_ids, self.img_ids, max_dets)
        by_name = {self._coco_api.cats[cat_id]["name"]: ap for cat_id, ap in by_id.items()}
        novel = set(self.novel_classes)
        out = {f"{OV_KEY}/AP50_novel": mean_ap(ap for n, ap in by_name.items() if n in novel),
               f"{OV_KEY}/AP50_base": mean_ap(ap for n, ap in by_name.items() if n not in novel),
               f"{OV_KEY}/AP50_all": mean_ap(by_name.values())}
        with_gt = Counter("novel" if n in novel else "base" for n, ap in by_name.items() if ap is not None)
        MMLogger.get_current_instance().info(
            f"OV bbox AP50 @maxDets={max_dets}: novel {out[f'{OV_KEY}/AP50_novel']:.4f} "
            f"({with_gt['novel']} classes with GT), base {out[f'{OV_KEY}/AP50_base']:.4f} "
            f"({with_gt['base']}), all {out[f'{OV_KEY}/AP50_all']:.4f}")
        if self.classwise:
            out.update({f"{OV_KEY}/AP50/{n}": (-1.0 if ap is None else ap) for n, ap in by_name.items()})
        return out

    def evaluate(self, size):
        """BaseMetric.evaluate, with the ``ov/`` keys left without the metric prefix."""
        metrics = super().evaluate(size)
        head = f"{self.prefix}/" if self.prefix else ""
        return {(k[len(head):] if k.startswith(f"{head}{OV_KEY}/") else k): v for k, v in metrics.items()}

"""Semantic-segmentation metrics through torchmetrics: SegmentationMetric (mIoU, mAcc, aAcc, per class).

A drop-in for mmseg's ``IoUMetric`` (with ``iou_metrics=['mIoU']``) that also returns each class's
IoU and accuracy, so the tools can print and save them:

    val_evaluator = dict(type='SegmentationMetric')            # ignore_index=255, classes from the dataset
    test_evaluator = dict(type='SegmentationMetric', num_classes=19, prefix='seg')

It reports, in percent rounded to ``decimals`` (2, as mmseg does; None keeps full precision):

    aAcc            correctly labelled pixels / labelled pixels, over the whole set
    mIoU            mean over classes of IoU = TP / (TP + FP + FN)
    mAcc            mean over classes of Acc = TP / (TP + FN) (each class's recall)
    IoU.<class>     each class's IoU
    Acc.<class>     each class's accuracy

The class name is ``dataset_meta['classes'][c]``, or ``str(c)`` when the metric only has ``num_classes``;
``prefix`` makes every key ``<prefix>/<key>``.

Per image, ``process`` keeps the (ground truth x prediction) pixel confusion matrix from torchmetrics'
``multiclass_confusion_matrix``, stored sparsely (the flat indices of its non-zero cells and their
counts, two small int64 arrays) so that mmengine's gathering of ``self.results`` across DDP ranks
stays cheap whatever the number of classes; ``compute_metrics`` sums them.

It matches mmseg 1.x ``IoUMetric`` pixel for pixel:

* a pixel whose ground truth is ``ignore_index`` is left out;
* a class with no pixel in the ground truth and none predicted has NaN IoU and NaN Acc and is left out
  of mIoU and mAcc (``np.nanmean``);
* a class with no ground-truth pixel but some predicted ones has IoU 0, which does count in mIoU, and
  NaN Acc (0 / 0), which does not count in mAcc;
* a label outside ``[0, num_classes)`` (that is not ``ignore_index``), in the prediction or in the
  ground truth, is counted in no class (mmseg's ``torch.histc`` drops it): a pixel whose ground truth
  is out of range is not in aAcc, but a class predicted there still gets a false positive; a pixel
  predicted out of range is a false negative of its ground-truth class. Here such labels go to one
  extra confusion-matrix bin (row / column ``num_classes``) that no class reads;
* ``nan_to_num`` replaces NaN per-class values (and a NaN aAcc) before the means, as in mmseg.

Differences: the counts are int64 and the ratios float64 (mmseg: float32 ``histc`` counts), so an
unrounded value can differ from mmseg's in the 6th significant digit and, rarely, a value that falls
on a rounding boundary can differ in the last (2nd) decimal. mmseg logs a per-class PrettyTable and
returns only aAcc / mIoU / mAcc (as numpy float32); this metric logs nothing and returns all the values
above as Python floats (see ``densekd.core.report.per_class_table`` for the table). ``mDice`` /
``mFscore``, ``output_dir`` and ``format_only`` are not supported.
"""
import contextlib
import warnings
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from torchmetrics.functional.classification import multiclass_confusion_matrix

from densekd.core.registry import METRICS
from ..core.errors import InvalidValue

__all__ = ["SegmentationMetric", "confusion_to_metrics", "image_confusion"]


def _field(obj, name):
    """``obj[name]`` for dicts (what mmengine's Evaluator hands over), ``obj.name`` for data elements."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num, dtype=np.float64) / np.asarray(den, dtype=np.float64)


def _nanmean(values):
    with warnings.catch_warnings():  # all NaN -> NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values)) if len(values) else float("nan")


def confusion_to_metrics(confusion, num_classes, nan_to_num=None):
    """Per-class IoU and Acc and the overall accuracy (fractions) from a summed confusion matrix.

    ``confusion[t, p]`` counts pixels of ground truth ``t`` predicted as ``p``; rows / columns from
    ``num_classes`` on (the out-of-range bin) belong to no class. Returns ``(aAcc, IoU, Acc)``.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    k = num_classes
    intersect = np.diag(confusion)[:k]
    area_label = confusion[:k, :].sum(axis=1)   # every labelled pixel of class c, whatever predicted
    area_pred = confusion[:, :k].sum(axis=0)    # every pixel predicted as c, whatever its (kept) label
    union = area_pred + area_label - intersect
    a_acc = _ratio(intersect.sum(), area_label.sum())
    iou, acc = _ratio(intersect, union), _ratio(intersect, area_label)
    if nan_to_num is not None:
        a_acc, iou, acc = (np.nan_to_num(v, nan=nan_to_num) for v in (a_acc, iou, acc))
    return float(a_acc), iou, acc


@contextlib.contextmanager
def _native_bincount():
    """Let torchmetrics use ``torch.bincount`` even under ``torch.use_deterministic_algorithms(True)``.

    There torchmetrics' ``_bincount`` falls back to a (pixels x bins) comparison: gigabytes for one
    512 x 512 image of 150 classes. ``torch.bincount`` without weights is deterministic on CPU and CUDA,
    so the flag is switched off around the call and restored after.
    """
    if not torch.are_deterministic_algorithms_enabled():
        yield
        return
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


def image_confusion(pred, gt, num_classes, ignore_index=255):
    """One image's dense ``(K + 1, K + 1)`` confusion matrix (rows: ground truth), a torch tensor.

    Pixels whose ground truth is ``ignore_index`` are dropped; any other label outside ``[0, K)``
    goes to bin ``K``.
    """
    k = num_classes
    pred = torch.as_tensor(pred).squeeze().long().flatten()
    gt = torch.as_tensor(gt).squeeze().to(pred.device).long().flatten()
    if pred.shape != gt.shape:
        raise InvalidValue(f"prediction and ground truth differ in size: {tuple(pred.shape)} vs "
                           f"{tuple(gt.shape)}")
    keep = gt != ignore_index
    pred, gt = pred[keep], gt[keep]
    pred = torch.where((pred >= 0) & (pred < k), pred, k)
    gt = torch.where((gt >= 0) & (gt < k), gt, k)
    # ignore pixels are gone already (an ignore_index equal to the out-of-range bin K would
    # otherwise drop pixels mmseg keeps), so torchmetrics needs no ignore_index of its own
    with _native_bincount():
        return multiclass_confusion_matrix(pred, gt, num_classes=k + 1, ignore_index=None, validate_args=False)


@METRICS.register_module()
class SegmentationMetric(BaseMetric):
    """mIoU / mAcc / aAcc and per-class IoU / Acc of semantic segmentation (see the module docstring).

    Args:
        num_classes: the number of classes; by default ``len(dataset_meta['classes'])``. When both are
            known they must agree.
        ignore_index: the ground-truth label of pixels left out of the evaluation.
        nan_to_num: if given, NaN per-class values become this number before the means (as mmseg).
        decimals: the percentages are rounded to this many decimals (mmseg: 2); None: no rounding.
        iou_metrics: accepted for configs written for mmseg's IoUMetric; only ``['mIoU']`` is supported.
        collect_device: where results are gathered across ranks ('cpu' or 'gpu').
        prefix: if given, every key is reported as ``<prefix>/<key>``.
    """

    default_prefix: Optional[str] = None

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255,
                 nan_to_num: Optional[float] = None, decimals: Optional[int] = 2,
                 iou_metrics: Sequence[str] = ("mIoU",), collect_device: str = "cpu",
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        iou_metrics = [iou_metrics] if isinstance(iou_metrics, str) else list(iou_metrics)
        if iou_metrics != ["mIoU"]:
            raise InvalidValue(f"SegmentationMetric supports iou_metrics=['mIoU'] only, got {iou_metrics}")
        if num_classes is not None and int(num_classes) < 1:
            raise InvalidValue(f"num_classes must be positive, got {num_classes}")
        self._num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = ignore_index
        self.nan_to_num = nan_to_num
        self.decimals = decimals

    # --- classes ---------------------------------------------------------------------------------
    @property
    def class_names(self):
        """The dataset's class names, or ``'0'``, ``'1'``, ... when only ``num_classes`` is known."""
        classes = (self.dataset_meta or {}).get("classes")
        if classes is None:
            if self._num_classes is None:
                raise InvalidValue("SegmentationMetric needs num_classes or dataset_meta['classes']")
            return [str(c) for c in range(self._num_classes)]
        classes = list(classes)
        if self._num_classes is not None and self._num_classes != len(classes):
            raise InvalidValue(f"SegmentationMetric num_classes={self._num_classes} but the dataset has "
                               f"{len(classes)} classes")
        return classes

    @property
    def num_classes(self):
        return len(self.class_names)

    # --- per image ---------------------------------------------------------------------------------
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each image's confusion matrix, sparsely: ``(flat indices, counts)`` of its non-zero cells."""
        k = self.num_classes
        for sample in data_samples:
            pred = _field(_field(sample, "pred_sem_seg"), "data")
            gt = _field(_field(sample, "gt_sem_seg"), "data")
            flat = image_confusion(pred, gt, k, self.ignore_index).flatten().cpu().numpy()
            index = np.flatnonzero(flat)
            self.results.append((index.astype(np.int64), flat[index].astype(np.int64)))

    # --- over the set ------------------------------------------------------------------------------
    def confusion_matrix(self, results):
        """The summed ``(K + 1, K + 1)`` confusion matrix of ``results`` (as ``process`` keeps them)."""
        k = self.num_classes
        total = np.zeros((k + 1) ** 2, dtype=np.int64)
        for index, counts in results:
            np.add.at(total, np.asarray(index, dtype=np.int64), np.asarray(counts, dtype=np.int64))
        return total.reshape(k + 1, k + 1)

    def _percent(self, value):
        value = float(value) * 100
        return round(value, self.decimals) if self.decimals is not None and np.isfinite(value) else value

    def compute_metrics(self, results: list) -> Dict[str, float]:
        names = self.class_names
        a_acc, iou, acc = confusion_to_metrics(self.confusion_matrix(results), len(names), self.nan_to_num)
        metrics = {"aAcc": self._percent(a_acc), "mIoU": self._percent(_nanmean(iou)),
                   "mAcc": self._percent(_nanmean(acc))}
        # mmseg rounds the means of the unrounded fractions, and each class's value on its own
        metrics.update({f"IoU.{name}": self._percent(v) for name, v in zip(names, iou)})
        metrics.update({f"Acc.{name}": self._percent(v) for name, v in zip(names, acc)})
        return metrics

"""SegmentationMetric (torchmetrics confusion matrices) against mmseg's IoUMetric and a hand-worked
case; the per-class Markdown table and the NaN -> null conversion of metrics.json."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import densekd  # noqa: F401  (registration)
from densekd.core.registry import METRICS, build, use_scope
from densekd.core.report import json_safe, metrics_table, per_class_table
from densekd.seg.metrics import SegmentationMetric

CLASSES = ("road", "car", "sky", "tree", "person")


def seg_sample(pred, gt):
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.as_tensor(pred).long()[None])
    sample.gt_sem_seg = PixelData(data=torch.as_tensor(gt).long()[None])
    return sample


def random_samples(gt_classes, pred_classes, seed=0, extra_gt=(), extra_pred=()):
    """Images of different sizes; ~15% ignore (255) pixels; labels drawn from the given classes."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for h, w in [(7, 9), (16, 12), (5, 5), (20, 3)]:
        gt_pool = torch.tensor(list(gt_classes) + list(extra_gt))
        pred_pool = torch.tensor(list(pred_classes) + list(extra_pred))
        gt = gt_pool[torch.randint(len(gt_pool), (h, w), generator=gen)]
        # predictions agree with the ground truth on about half the pixels, so IoUs are not tiny
        pred = pred_pool[torch.randint(len(pred_pool), (h, w), generator=gen)]
        agree = (torch.rand(h, w, generator=gen) < 0.5) & torch.isin(gt, pred_pool)
        pred = torch.where(agree, gt, pred)
        gt[torch.rand(h, w, generator=gen) < 0.15] = 255
        samples.append(seg_sample(pred, gt))
    return samples


def evaluate(metric, samples, batch=2):
    evaluator = Evaluator([metric])
    evaluator.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), batch):  # as DistillModule does, batch by batch
        evaluator.process(data_samples=samples[i:i + batch], data_batch=None)
    return evaluator.evaluate(len(samples))


def mmseg_reference(samples, ignore_index=255):
    """mmseg IoUMetric's returned summary and its per-class IoU / Acc (percent, unrounded)."""
    from mmseg.registry import METRICS as SEG_METRICS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    metric = SEG_METRICS.build(dict(type="IoUMetric", _scope_="mmseg", iou_metrics=["mIoU"], ignore_index=ignore_index))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, [s.to_dict() for s in samples])
    per_image = tuple(zip(*metric.results))
    per_class = metric.total_area_to_metrics(*(sum(r) for r in per_image), ["mIoU"])
    summary = evaluate(metric, samples)
    return summary, {k: v * 100 for k, v in per_class.items()}


@pytest.mark.parametrize("gt_classes, pred_classes, extra_gt, extra_pred, ignore_index", [
    ((0, 1, 2, 3), (0, 1, 2, 4), (), (), 255),       # 4 absent from the GT (IoU 0, Acc NaN); 3 never predicted
    ((0, 1, 2), (0, 1, 4), (), (), 255),             # 3 absent from both (NaN, left out of the means)
    ((0, 1, 2, 3), (0, 1, 2, 4), (7,), (9, -1), 255),  # out-of-range labels, which mmseg's histc drops
    ((0, 1, 2, 3), (0, 1, 2, 4), (7,), (9,), 0),     # an ignore_index that is a class
    ((0, 1, 2, 3, 5), (0, 1, 2, 4), (7,), (9,), 5),  # an ignore_index just past the classes
], ids=["absent-gt-absent-pred", "absent-both", "out-of-range", "ignore-a-class", "ignore-5"])
def test_matches_mmseg_iou_metric(gt_classes, pred_classes, extra_gt, extra_pred, ignore_index):
    samples = random_samples(gt_classes, pred_classes, extra_gt=extra_gt, extra_pred=extra_pred)
    reference, ref_class = mmseg_reference(samples, ignore_index)

    ours = evaluate(SegmentationMetric(ignore_index=ignore_index), samples)  # rounded to 2 decimals, as mmseg
    for key in ("aAcc", "mIoU", "mAcc"):
        assert isinstance(ours[key], float)
        assert ours[key] == pytest.approx(float(reference[key]), abs=1e-4), key

    full = evaluate(SegmentationMetric(ignore_index=ignore_index, decimals=None), samples)
    for kind in ("IoU", "Acc"):
        ref = ref_class[kind]
        got = np.array([full[f"{kind}.{name}"] for name in CLASSES])
        assert np.array_equal(np.isnan(got), np.isnan(ref)), kind
        np.testing.assert_allclose(got[~np.isnan(got)], ref[~np.isnan(ref)], atol=1e-4)
        assert full[f"m{kind}"] == pytest.approx(float(np.nanmean(ref)), abs=1e-4)
        # and the rounded per-class values are mmseg's table's
        np.testing.assert_allclose([ours[f"{kind}.{n}"] for n in CLASSES], np.round(ref, 2), atol=1e-4)
    assert full["aAcc"] == pytest.approx(float(ref_class["aAcc"]), abs=1e-4)


def test_absent_classes():
    ours = evaluate(SegmentationMetric(decimals=None), random_samples((0, 1, 2, 3), (0, 1, 2, 4)))
    assert ours["IoU.person"] == 0.0 and math.isnan(ours["Acc.person"])  # predicted, never in the GT
    assert ours["IoU.tree"] == 0.0 and ours["Acc.tree"] == 0.0           # in the GT, never predicted
    both = evaluate(SegmentationMetric(decimals=None), random_samples((0, 1, 2), (0, 1, 4)))
    assert math.isnan(both["IoU.tree"]) and math.isnan(both["Acc.tree"])
    kept = [both[f"IoU.{n}"] for n in CLASSES if n != "tree"]
    assert both["mIoU"] == pytest.approx(sum(kept) / 4)


def test_by_hand():
    # image 1: gt [[0, 0], [1, 1]], pred [[0, 1], [1, 1]]; image 2: gt [[0, 255], [1, 0]], pred all 0
    # class 0: TP 3, GT 4, predicted 4 -> IoU 3 / 5, Acc 3 / 4
    # class 1: TP 2, GT 3, predicted 3 -> IoU 2 / 4, Acc 2 / 3;  aAcc 5 / 7
    samples = [seg_sample([[0, 1], [1, 1]], [[0, 0], [1, 1]]),
               seg_sample([[0, 0], [0, 0]], [[0, 255], [1, 0]])]
    metric = SegmentationMetric(num_classes=2, decimals=None)  # no dataset classes: names '0', '1'
    metric.process(None, [s.to_dict() for s in samples])
    assert metric.confusion_matrix(metric.results)[:2, :2].tolist() == [[3, 1], [1, 2]]
    # stored sparsely: (flat indices, counts) of each image's non-zero cells
    assert all(index.dtype == np.int64 and counts.dtype == np.int64 for index, counts in metric.results)
    got = metric.evaluate(2)
    expected = {"aAcc": 500 / 7, "mIoU": (60 + 50) / 2, "mAcc": (75 + 200 / 3) / 2,
                "IoU.0": 60.0, "IoU.1": 50.0, "Acc.0": 75.0, "Acc.1": 200 / 3}
    assert got == pytest.approx(expected)
    rounded = SegmentationMetric(num_classes=2, prefix="seg")
    rounded.process(None, samples)  # SegDataSample objects are read too
    assert rounded.evaluate(2) == {"seg/aAcc": 71.43, "seg/mIoU": 55.0, "seg/mAcc": 70.83, "seg/IoU.0": 60.0,
                                   "seg/IoU.1": 50.0, "seg/Acc.0": 75.0, "seg/Acc.1": 66.67}


def test_nan_to_num_and_class_count_check():
    samples = random_samples((0, 1, 2), (0, 1, 4))
    zero = evaluate(SegmentationMetric(nan_to_num=0, decimals=None), samples)
    assert zero["IoU.tree"] == 0.0
    assert zero["mIoU"] == pytest.approx(sum(zero[f"IoU.{n}"] for n in CLASSES) / 5)
    with pytest.raises(ValueError, match="num_classes=3"):
        evaluate(SegmentationMetric(num_classes=3), samples)
    with pytest.raises(ValueError, match="mIoU"):
        SegmentationMetric(iou_metrics=["mDice"])


def test_deterministic_mode_is_kept():
    samples = random_samples((0, 1, 2, 3), (0, 1, 2, 4))
    expected = evaluate(SegmentationMetric(), samples)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert evaluate(SegmentationMetric(), samples) == pytest.approx(expected, nan_ok=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_built_from_the_registry_in_mmseg_scope(restore_scope):
    use_scope("mmseg")
    metric = build(dict(type="SegmentationMetric", ignore_index=0), METRICS)
    assert isinstance(metric, SegmentationMetric) and metric.ignore_index == 0


NAN = float("nan")
METRICS_WITH_CLASSES = {"aAcc": 71.43, "mIoU": 55.0, "mAcc": 75.0,
                        "IoU.road": 60.0, "IoU.sky": NAN, "IoU.car": 50.0,
                        "Acc.road": 75.0, "Acc.sky": NAN, "Acc.car": 75.0}


def test_per_class_table():
    assert per_class_table(METRICS_WITH_CLASSES) == "\n".join([
        "| class | IoU | Acc |",
        "|---|---|---|",
        "| road | 60.000 | 75.000 |",
        "| sky | - | - |",
        "| car | 50.000 | 75.000 |",
    ])
    # the summary keeps to the summary
    assert metrics_table(METRICS_WITH_CLASSES) == "\n".join([
        "| metric | value |", "|---|---|", "| aAcc | 71.430 |", "| mIoU | 55.000 |", "| mAcc | 75.000 |"])
    assert per_class_table({"aAcc": 71.43, "coco/bbox_mAP": 0.5}) == ""
    assert "| seg/road | 60.000 | - |" in per_class_table({"seg/mIoU": 60.0, "seg/IoU.road": 60.0})


def test_nan_written_as_null():
    safe = json_safe(METRICS_WITH_CLASSES)
    assert safe["IoU.sky"] is None and safe["Acc.sky"] is None and safe["IoU.road"] == 60.0
    text = json.dumps(safe, allow_nan=False)  # valid JSON: NaN would raise here
    assert json.loads(text)["IoU.sky"] is None

"""OVCocoAP50Metric: ov/AP50_{novel,base,all} from pycocotools COCOeval, on a hand-made COCO file."""
import json

import pytest
import torch

from densekd.ovd.metrics import OVCocoAP50Metric, OVLVISMetric
from mmdet.registry import METRICS

CLASSES = ("apple", "bowl", "cat", "dog", "sink")  # base-first ids 1..5
NOVEL = ("cat", "dog", "sink")  # sink has no ground truth: left out of the averages
# (image id, class, [x, y, w, h]); all images 100 x 100
GT = [(1, "apple", [10, 10, 20, 20]), (1, "cat", [50, 50, 30, 30]),
      (2, "bowl", [5, 5, 40, 40]), (2, "dog", [60, 10, 20, 30]),
      (3, "apple", [30, 30, 20, 20]), (3, "cat", [0, 60, 30, 30])]


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory):
    coco = dict(images=[dict(id=i, file_name=f"{i}.jpg", width=100, height=100) for i in (1, 2, 3)],
                categories=[dict(id=k, name=n) for k, n in enumerate(CLASSES, start=1)],
                annotations=[dict(id=j, image_id=i, category_id=CLASSES.index(n) + 1, bbox=b, area=b[2] * b[3],
                                  iscrowd=0) for j, (i, n, b) in enumerate(GT, start=1)])
    path = tmp_path_factory.mktemp("ovmetric") / "val.json"
    path.write_text(json.dumps(coco))
    return str(path)


def samples(dets, classes=CLASSES):
    """mmdet data samples from ``[(image id, class, [x, y, w, h], score)]`` (labels = class index)."""
    out = []
    for image_id in (1, 2, 3):
        mine = [d for d in dets if d[0] == image_id]
        out.append(dict(img_id=image_id, ori_shape=(100, 100), pred_instances=dict(
            bboxes=torch.tensor([[x, y, x + w, y + h] for _, _, (x, y, w, h), _ in mine],
                                dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor([s for *_, s in mine], dtype=torch.float32),
            labels=torch.tensor([classes.index(n) for _, n, _, _ in mine], dtype=torch.long))))
    return out


def evaluate(ann_file, dets, **kwargs):
    metric = METRICS.build(dict(type="OVCocoAP50Metric", ann_file=ann_file, novel_classes=NOVEL, **kwargs))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples(dets))
    return metric.evaluate(size=3)


PERFECT = [(i, n, b, 0.9) for i, n, b in GT]


def test_perfect_predictions_score_one_everywhere(ann_file):
    metrics = evaluate(ann_file, PERFECT)
    assert metrics["ov/AP50_novel"] == pytest.approx(1.0)
    assert metrics["ov/AP50_base"] == pytest.approx(1.0)
    assert metrics["ov/AP50_all"] == pytest.approx(1.0)
    assert metrics["coco/bbox_mAP"] == pytest.approx(1.0)  # CocoMetric's keys are kept, prefixed
    assert "ov/AP50/cat" not in metrics  # per-class keys only with classwise=True


def test_dropping_novel_predictions_zeroes_novel_ap50(ann_file):
    metrics = evaluate(ann_file, [d for d in PERFECT if d[1] not in NOVEL], classwise=True)
    assert metrics["ov/AP50_novel"] == 0.0
    assert metrics["ov/AP50_base"] == pytest.approx(1.0)
    assert metrics["ov/AP50_all"] == pytest.approx(0.5)  # (1 + 1 + 0 + 0) / 4; sink has no GT
    assert metrics["ov/AP50/apple"] == pytest.approx(1.0) and metrics["ov/AP50/cat"] == 0.0
    assert metrics["ov/AP50/sink"] == -1.0


def test_iou_0_6_still_counts_at_ap50_but_not_in_map(ann_file):
    # apple's box on image 1 shifted 5 px right: overlap 15 x 20 = 300, union 400 + 400 - 300 = 500
    # -> IoU 0.6: a hit at 0.5 (AP50 stays 1), a miss from 0.65 up (mAP over 0.50:0.95 drops)
    dets = [(i, n, [b[0] + 5, *b[1:]] if (i, n) == (1, "apple") else b, s) for i, n, b, s in PERFECT]
    metrics = evaluate(ann_file, dets)
    assert metrics["ov/AP50_base"] == pytest.approx(1.0)
    assert metrics["ov/AP50_all"] == pytest.approx(1.0)
    assert metrics["coco/bbox_mAP"] < 1.0


def test_false_positive_ranked_above_a_true_positive(ann_file):
    # apple: TP (0.9), FP far away (0.85), TP (0.8) -> precision 1, 1/2, 2/3 at recall 0.5, 0.5, 1.
    # COCO's envelope (max precision at any higher rank) is 1, 2/3, 2/3; of the 101 recall points
    # 0.00..0.50 (51 points) take the first detection reaching them (precision 1), 0.51..1.00
    # (50 points) the third (2/3): AP50 = (51 * 1 + 50 * 2/3) / 101 = 0.834983...
    apple_ap = (51 + 50 * 2 / 3) / 101
    dets = [d if d[1] != "apple" else (d[0], d[1], d[2], 0.9 if d[0] == 1 else 0.8) for d in PERFECT]
    dets.append((2, "apple", [70, 70, 20, 20], 0.85))
    metrics = evaluate(ann_file, dets, classwise=True)
    assert metrics["ov/AP50/apple"] == pytest.approx(apple_ap)
    assert metrics["ov/AP50_base"] == pytest.approx((apple_ap + 1) / 2)
    assert metrics["ov/AP50_novel"] == pytest.approx(1.0)
    assert metrics["ov/AP50_all"] == pytest.approx((apple_ap + 3) / 4)


def test_no_predictions_at_all_give_zero(ann_file):
    metrics = evaluate(ann_file, [])
    assert (metrics["ov/AP50_novel"], metrics["ov/AP50_base"], metrics["ov/AP50_all"]) == (0.0, 0.0, 0.0)


def test_unknown_novel_class_names_the_value_and_the_known_classes(ann_file):
    metric = OVCocoAP50Metric(ann_file=ann_file, novel_classes=("cat", "dgo"))
    with pytest.raises(ValueError, match=r"'dgo' \(close: dog\).*apple, bowl, cat, dog, sink"):
        metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(ValueError, match="non-empty tuple"):
        OVCocoAP50Metric(ann_file=ann_file, novel_classes="cat")
    with pytest.raises(ValueError, match="must include 'bbox'"):
        OVCocoAP50Metric(ann_file=ann_file, novel_classes=NOVEL, metric="proposal")


# --- OVLVISMetric: LVIS federated evaluation -------------------------------------------------------
# base-first ids 1..4 as prepare_ov_coco writes them: frequent, common, then the rare (novel) classes
LVIS_CLASSES = (("apple", "f"), ("bowl", "c"), ("cat", "r"), ("dog", "r"))
LVIS_NAMES = tuple(n for n, _ in LVIS_CLASSES)
LVIS_GT = [(1, "apple", [10, 10, 20, 20]), (1, "cat", [50, 50, 30, 30]),
           (2, "bowl", [5, 5, 40, 40]), (2, "dog", [60, 10, 20, 30]), (3, "apple", [30, 30, 20, 20])]
# image 1: bowl verified absent; apple not exhaustively boxed. image 2: cat absent. image 3: nothing verified
NEG = {1: ["bowl"], 2: ["cat"], 3: []}
NOT_EXHAUSTIVE = {1: ["apple"], 2: [], 3: []}


@pytest.fixture(scope="module")
def lvis_file(tmp_path_factory):
    ids = {n: k for k, n in enumerate(LVIS_NAMES, start=1)}
    lvis = dict(images=[dict(id=i, width=100, height=100, coco_url=f"http://images.cocodataset.org/val2017/{i:012d}.jpg",
                             neg_category_ids=[ids[n] for n in NEG[i]],
                             not_exhaustive_category_ids=[ids[n] for n in NOT_EXHAUSTIVE[i]]) for i in (1, 2, 3)],
                categories=[dict(id=ids[n], name=n, frequency=f) for n, f in LVIS_CLASSES],
                annotations=[dict(id=j, image_id=i, category_id=ids[n], bbox=b, area=b[2] * b[3])
                             for j, (i, n, b) in enumerate(LVIS_GT, start=1)])
    path = tmp_path_factory.mktemp("lvismetric") / "lvis_val.json"
    path.write_text(json.dumps(lvis))
    return str(path)


def evaluate_lvis(lvis_file, dets, classes=LVIS_NAMES, **kwargs):
    metric = METRICS.build(dict(type="OVLVISMetric", ann_file=lvis_file, **kwargs))
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples(dets, LVIS_NAMES))
    return metric.evaluate(size=3)


LVIS_PERFECT = [(i, n, b, 0.9) for i, n, b in LVIS_GT]
FALSE_BOX = [70, 70, 20, 20]  # overlaps no ground truth


def lvis_aps(metrics):
    return tuple(round(metrics[f"lvis/bbox_AP{k}"], 4) for k in ("", "r", "c", "f"))


def test_lvis_perfect_predictions_score_one(lvis_file):
    metrics = evaluate_lvis(lvis_file, LVIS_PERFECT, classwise=True)
    assert lvis_aps(metrics) == (1.0, 1.0, 1.0, 1.0)
    assert metrics["lvis/bbox_AP50"] == pytest.approx(1.0) and metrics["lvis/bbox_AP/dog"] == pytest.approx(1.0)


def test_lvis_without_rare_predictions_apr_is_zero(lvis_file):
    metrics = evaluate_lvis(lvis_file, [d for d in LVIS_PERFECT if d[1] not in ("cat", "dog")])
    assert lvis_aps(metrics) == (0.5, 0.0, 1.0, 1.0)  # AP = mean over the 4 classes


def test_lvis_false_detection_counts_only_where_verified_absent(lvis_file):
    # cat at 0.95 above its true box (0.9): on image 2 (cat in neg_category_ids) a false positive,
    # precision 0 then 1/2 -> cat AP 0.5, APr (0.5 + 1) / 2; on image 3 (cat neither annotated nor
    # listed) LVIS ignores it.
    assert lvis_aps(evaluate_lvis(lvis_file, LVIS_PERFECT + [(2, "cat", FALSE_BOX, 0.95)]))[1] == 0.75
    assert lvis_aps(evaluate_lvis(lvis_file, LVIS_PERFECT + [(3, "cat", FALSE_BOX, 0.95)]))[1] == 1.0
    # bowl on image 1 is listed absent: counted, bowl AP 0.5
    assert lvis_aps(evaluate_lvis(lvis_file, LVIS_PERFECT + [(1, "bowl", FALSE_BOX, 0.95)]))[2] == 0.5


def test_lvis_unmatched_box_of_a_not_exhaustive_class_is_ignored(lvis_file):
    # apple on image 1 is not exhaustively annotated: an extra apple box there is no false positive;
    # on image 3 (apple annotated exhaustively) it is: precision 0, 1/2, 2/3, whose envelope is 2/3
    assert lvis_aps(evaluate_lvis(lvis_file, LVIS_PERFECT + [(1, "apple", FALSE_BOX, 0.95)]))[3] == 1.0
    assert lvis_aps(evaluate_lvis(lvis_file, LVIS_PERFECT + [(3, "apple", FALSE_BOX, 0.95)]))[3] == 0.6667


def test_lvis_max_dets_keeps_each_images_best_boxes_over_all_classes(lvis_file):
    scores = dict(apple=0.9, cat=0.8, dog=0.95, bowl=0.7)  # image 1: apple beats cat; image 2: dog beats bowl
    dets = [(i, n, b, scores[n]) for i, n, b in LVIS_GT]
    assert lvis_aps(evaluate_lvis(lvis_file, dets, max_dets=1))[1:3] == (0.5, 0.0)  # cat and bowl dropped
    assert lvis_aps(evaluate_lvis(lvis_file, dets))[1:3] == (1.0, 1.0)  # default 300


def test_lvis_no_predictions_give_zero(lvis_file):
    assert lvis_aps(evaluate_lvis(lvis_file, [])) == (0.0, 0.0, 0.0, 0.0)


def test_lvis_errors_name_the_value_and_the_fix(lvis_file, ann_file):
    with pytest.raises(ValueError, match=r"OVLVISDataset.*original order"):
        evaluate_lvis(lvis_file, LVIS_PERFECT, classes=tuple(sorted(LVIS_NAMES, reverse=True)))
    with pytest.raises(ValueError, match=r"no LVIS frequency.*\('apple', None\)"):
        OVLVISMetric(ann_file=ann_file)  # a COCO file
    with pytest.raises(FileNotFoundError, match="prepare_ov_coco.py --dataset lvis"):
        OVLVISMetric(ann_file="nowhere/lvis_v1_val.1203.json")
    with pytest.raises(ValueError, match="must be 'bbox'"):
        OVLVISMetric(ann_file=lvis_file, metric="segm")

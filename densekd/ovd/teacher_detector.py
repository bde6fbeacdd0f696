"""The CLIP teacher as a detector, so that it gets a row (novel / base / all AP50) beside the OV detectors it
teaches: each cached proposal of the base-class RPN, named by its object-aware CLIP embedding (the one OADP
distils) against the class text embeddings.

Scoring, for proposal p and class c::

    score(p, c) = softmax_c(logit_scale * cos(object_p, text_c)) * objectness_p

``objectness_p`` is the RPN's sigmoid probability, as tools/generate_proposals.py stores it (the cache copies
it); ``logit_scale`` is the CLIP's own softmax scale (default 100, OpenAI CLIP's; the demo passes its demo CLIP's
learned one, from tools/pretrain_demo_clip.py's record). Then, as the OV detectors' test_cfg does: every
(proposal, class) pair, NMS per class at IoU 0.5, the best ``max_per_img`` (300) of an image kept. AP50 is
OVCocoAP50Metric's (maxDets 1000, its default).
"""
import torch
import torch.nn.functional as F
from mmdet.datasets.api_wrappers import COCO
from mmdet.models.layers import multiclass_nms

from ..core.errors import InvalidValue
from .feature_store import FeatureStore
from .metrics import OV_KEY, ap50_per_category, empty_detections, ov_ap50_means
from .teacher_report import full_annotations
from .text import load_text_embeddings

__all__ = ["CLIP_LOGIT_SCALE", "class_scores", "image_detections", "teacher_detections", "evaluate_detections"]

CLIP_LOGIT_SCALE = 100.0  # CLIP's learned temperature (OpenAI's models; the demo CLIP's cap)


def class_scores(objects, objectness, text, logit_scale=CLIP_LOGIT_SCALE):
    """Scores ``(P, C)``: softmax over classes of ``logit_scale`` * cosine(objects ``(P, D)``, text ``(C, D)``),
    times each proposal's objectness probability ``(P,)``."""
    cosine = F.normalize(objects.float(), dim=-1) @ F.normalize(text.float(), dim=-1).T
    return (logit_scale * cosine).softmax(dim=1) * objectness.float()[:, None]


def image_detections(boxes, scores, iou_thr=0.5, max_per_img=300):
    """Per-class NMS of every (proposal, class) pair of boxes ``(P, 4)`` xyxy and scores ``(P, C)``:
    ``{'bboxes': (N, 4), 'scores': (N,), 'labels': (N,)}``, best first, N <= ``max_per_img``."""
    with_background = torch.cat([scores, scores.new_zeros(len(scores), 1)], dim=1)  # multiclass_nms ignores it
    dets, labels = multiclass_nms(boxes.float(), with_background, score_thr=0.0,
                                  nms_cfg=dict(type="nms", iou_threshold=iou_thr), max_num=max_per_img)
    return {"bboxes": dets[:, :4], "scores": dets[:, 4], "labels": labels}


def teacher_detections(cache, text_file, logit_scale=CLIP_LOGIT_SCALE, iou_thr=0.5, max_per_img=300):
    """``({image_id: image_detections(...)}, class names)`` of every image of the CLIP feature cache ``cache``
    (``object_boxes``, ``objects``, ``objectness``), labels indexing the names of ``text_file``."""
    text, classes, _ = load_text_embeddings(text_file)
    store = FeatureStore(cache)
    if not store.complete:
        raise InvalidValue(f"the feature cache {cache} is partial ({len(store)} images stored): rerun "
                           "tools/extract_clip_features.py to finish it")
    detections = {}
    for image_id in store.image_ids():
        targets = store.get(image_id)
        scores = class_scores(targets["objects"], targets["objectness"], text, logit_scale)
        detections[image_id] = image_detections(targets["object_boxes"], scores, iou_thr, max_per_img)
    return detections, list(classes)


def evaluate_detections(detections, classes, ann_file, novel, max_dets=1000):
    """``{'ov/AP50_novel', 'ov/AP50_base', 'ov/AP50_all', 'ov/AP50/<name>' ...}`` of ``detections``
    (:func:`teacher_detections`) on the split's full annotations ``ann_file``; classes without ground truth
    are left out of the means (a class's key is then -1.0), as in OVCocoAP50Metric."""
    coco = full_annotations(ann_file, classes)
    names = {c["name"] for c in coco["categories"]}
    if set(novel) - names:
        raise InvalidValue(f"novel classes {sorted(set(novel) - names)} are not among the classes of {ann_file} "
                           f"({sorted(names)}); name novel classes of the file")
    image_ids = {image["id"] for image in coco["images"]}
    if set(detections) != image_ids:
        raise InvalidValue(f"the detections cover {len(detections)} images, {ann_file} has {len(image_ids)} "
                           f"({len(set(detections) - image_ids)} of them not in the file): give the feature cache "
                           "and the annotations of the same split")
    coco_gt = COCO()
    coco_gt.dataset = coco
    coco_gt.createIndex()
    category_of = {c["name"]: c["id"] for c in coco["categories"]}
    results = [dict(image_id=image_id, category_id=category_of[classes[label]], score=float(score),
                    bbox=[x1, y1, x2 - x1, y2 - y1])
               for image_id, det in detections.items()
               for (x1, y1, x2, y2), score, label in zip(det["bboxes"].tolist(), det["scores"], det["labels"].tolist())
               if classes[label] in category_of]
    coco_dt = coco_gt.loadRes(results) if results else empty_detections(coco_gt)
    by_id = ap50_per_category(coco_gt, coco_dt, sorted(coco_gt.cats), sorted(image_ids), max_dets)
    by_name = {coco_gt.cats[cat_id]["name"]: ap for cat_id, ap in by_id.items()}
    return {**ov_ap50_means(by_name, novel),
            **{f"{OV_KEY}/AP50/{name}": (-1.0 if ap is None else ap) for name, ap in by_name.items()}}

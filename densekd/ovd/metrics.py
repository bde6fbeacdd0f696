"""Open-vocabulary detection metrics: OVCocoAP50Metric (OV-COCO) and OVLVISMetric (OV-LVIS).

OVCocoAP50Metric is mmdet's COCO bbox metric plus the open-vocabulary AP50 over novel / base / all classes.

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

OVLVISMetric is LVIS v1's federated bbox evaluation (faster_coco_eval's ``lvis_style`` COCOeval;
the official lvis-api does not run with numpy 2). It reports ``lvis/bbox_AP`` (AP@[.5:.95]),
``lvis/bbox_AP50``, ``lvis/bbox_AP75``, ``lvis/bbox_APs/m/l`` and ``lvis/bbox_APr/c/f`` over the
rare / common / frequent classes; in OV-LVIS the rare classes are the novel ones, so ``bbox_APr``
is the headline. As in LVIS, at most ``max_dets`` (300) detections an image are kept, the
highest-scoring ones over all classes, and a detection of a class on an image counts only if the
class is annotated there or listed in the image's ``neg_category_ids``; an unmatched detection of a
class in ``not_exhaustive_category_ids`` is not a false positive.

    val_evaluator = dict(type='OVLVISMetric', ann_file='data/lvis/annotations/lvis_v1_val.1203.json')
"""
import contextlib
import os.path as osp
import tempfile
from collections import Counter, defaultdict

import numpy as np
from faster_coco_eval import COCO as FastCOCO
from faster_coco_eval import COCOeval_faster
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path, load
from mmengine.logging import MMLogger

from ..core.errors import InvalidValue, MissingFile
from .splits import close_names

OV_KEY = "ov"
LVIS_FREQUENCIES = ("r", "c", "f")


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


def ov_ap50_means(by_name, novel):
    """``{'ov/AP50_novel', 'ov/AP50_base', 'ov/AP50_all'}`` of per-class AP50s ``{name: AP or None}``
    (:func:`mean_ap` of each group; base = every class not in ``novel``)."""
    novel = set(novel)
    return {f"{OV_KEY}/AP50_novel": mean_ap(ap for n, ap in by_name.items() if n in novel),
            f"{OV_KEY}/AP50_base": mean_ap(ap for n, ap in by_name.items() if n not in novel),
            f"{OV_KEY}/AP50_all": mean_ap(by_name.values())}


@contextlib.contextmanager
def result_file_prefix(outfile_prefix):
    """Yield ``outfile_prefix``, or when it is None a prefix in a temporary folder removed on exit."""
    if outfile_prefix is not None:
        yield outfile_prefix
        return
    with tempfile.TemporaryDirectory() as tmp_dir:
        yield osp.join(tmp_dir, "results")


@METRICS.register_module()
class OVCocoAP50Metric(CocoMetric):
    """CocoMetric that also reports bbox AP50 over the novel, base and all classes (``ov/AP50_*``)."""

    def __init__(self, novel_classes, ann_file=None, metric="bbox", **kwargs):
        super().__init__(ann_file=ann_file, metric=metric, **kwargs)
        if "bbox" not in self.metrics:
            raise InvalidValue(f"OVCocoAP50Metric reports bbox AP50, so metric must include 'bbox'; got {self.metrics}")
        if isinstance(novel_classes, str) or not novel_classes:
            raise InvalidValue("OVCocoAP50Metric novel_classes must be a non-empty tuple of class names, "
                               f"got {novel_classes!r}")
        repeated = sorted(n for n, c in Counter(novel_classes).items() if c > 1)
        if repeated:
            raise InvalidValue(f"OVCocoAP50Metric novel_classes repeat: {repeated}; give each name once")
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
            raise InvalidValue(f"OVCocoAP50Metric novel_classes not among the {len(classes)} dataset classes: "
                               f"{close_names(missing, classes)}. The dataset classes are: {', '.join(classes)}. "
                               "Fix novel_classes (or the dataset's metainfo classes) so they match.")

    def compute_metrics(self, results):
        """CocoMetric's metrics, then the ``ov/AP50_*`` ones from the same bbox result file."""
        given_prefix = self.outfile_prefix
        with result_file_prefix(given_prefix) as prefix:  # keep CocoMetric's result file to reuse it
            self.outfile_prefix = prefix
            try:
                eval_results = super().compute_metrics(results)
                if self.format_only:
                    return eval_results
                eval_results.update(self._ov_ap50(load(f"{prefix}.bbox.json")))
            finally:
                self.outfile_prefix = given_prefix
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
        out = ov_ap50_means(by_name, novel)
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


def top_detections_per_image(detections, max_dets):
    """The ``max_dets`` highest-scoring of each image's COCO-json detections (LVIS's per-image cap)."""
    by_image = defaultdict(list)
    for det in detections:
        by_image[det["image_id"]].append(det)
    return [d for dets in by_image.values() for d in sorted(dets, key=lambda d: -d["score"])[:max_dets]]


def lvis_categories(coco_gt, source):
    """The categories of an LVIS ground truth in id order; ValueError if one has no r/c/f ``frequency``."""
    categories = [coco_gt.cats[k] for k in sorted(coco_gt.cats)]
    bad = [(c.get("name"), c.get("frequency")) for c in categories if c.get("frequency") not in LVIS_FREQUENCIES]
    if bad:
        raise InvalidValue(f"{len(bad)} categories of {source} have no LVIS frequency ('r', 'c' or 'f'), "
                           f"e.g. {bad[:3]} (name, frequency seen). Give an LVIS v1 file, e.g. the "
                           "lvis_v1_val.1203.json written by tools/prepare_ov_coco.py --dataset lvis.")
    return categories


@METRICS.register_module()
class OVLVISMetric(CocoMetric):
    """LVIS v1 federated bbox AP (``lvis/bbox_AP``, ``lvis/bbox_APr/c/f``, ...) with faster_coco_eval."""

    default_prefix = "lvis"

    def __init__(self, ann_file, metric="bbox", max_dets=300, classwise=False, format_only=False,
                 outfile_prefix=None, backend_args=None, collect_device="cpu", prefix=None):
        if metric not in ("bbox", ["bbox"], ("bbox",)):
            raise InvalidValue(f"OVLVISMetric evaluates boxes only, so metric must be 'bbox'; got {metric!r}")
        if int(max_dets) < 1:
            raise InvalidValue(f"OVLVISMetric max_dets must be a positive number of detections an image, got {max_dets}")
        # ann_file=None: CocoMetric would load it with pycocotools; the LVIS file is loaded once, below
        super().__init__(ann_file=None, metric="bbox", classwise=classwise, format_only=format_only,
                         outfile_prefix=outfile_prefix, backend_args=backend_args,
                         collect_device=collect_device, prefix=prefix)
        self.ann_file, self.max_dets = ann_file, int(max_dets)
        if not osp.isfile(ann_file) and "://" not in str(ann_file):
            raise MissingFile(f"LVIS annotation file not found: {ann_file} — write it with "
                              "python tools/prepare_ov_coco.py --dataset lvis")
        with get_local_path(ann_file, backend_args=self.backend_args) as local_path:
            self._coco_api = FastCOCO(local_path)  # also tells CocoMetric.process not to keep the GT boxes
        self.categories = lvis_categories(self._coco_api, ann_file)

    def _category_ids(self):
        """The GT category ids in label order, checking the dataset's classes are the file's, in id order."""
        names = [c["name"] for c in self.categories]
        classes = list(self.dataset_meta["classes"]) if self.dataset_meta else None
        if classes != names:
            seen = ("no dataset classes" if classes is None else
                    f"{len(classes)} dataset classes starting {classes[:3]}, file categories starting {names[:3]}")
            raise InvalidValue(f"OVLVISMetric: the dataset's classes are not the {len(names)} categories of "
                               f"{self.ann_file} in id order ({seen}). Use type='OVLVISDataset' "
                               "(densekd.ovd.datasets), which reads its classes from the annotation file; "
                               "mmdet's LVISV1Dataset names labels in LVIS's original order.")
        return [c["id"] for c in self.categories]

    def compute_metrics(self, results):
        """``{'bbox_AP', 'bbox_AP50', 'bbox_AP75', 'bbox_APs', 'bbox_APm', 'bbox_APl', 'bbox_APr',
        'bbox_APc', 'bbox_APf'[, 'bbox_AP/<name>' ...]}`` of the processed results."""
        logger = MMLogger.get_current_instance()
        _, preds = zip(*results)
        self.cat_ids, self.img_ids = self._category_ids(), self._coco_api.getImgIds()
        with result_file_prefix(self.outfile_prefix) as prefix:
            result_files = self.results2json(preds, prefix)
            if self.format_only:
                logger.info(f"results are saved in {osp.dirname(prefix)}")
                return {}
            detections = load(result_files["bbox"])
        coco_dt = self._coco_api.loadRes(top_detections_per_image(detections, self.max_dets))
        lvis_eval = COCOeval_faster(self._coco_api, coco_dt, "bbox", lvis_style=True, print_function=logger.info)
        lvis_eval.params.maxDets = [self.max_dets]
        lvis_eval.evaluate()
        lvis_eval.accumulate()
        lvis_eval.summarize()
        stats = lvis_eval.stats_as_dict
        keys = dict(bbox_AP="AP_all", bbox_AP50="AP_50", bbox_AP75="AP_75", bbox_APs="AP_small",
                    bbox_APm="AP_medium", bbox_APl="AP_large", bbox_APr="APr", bbox_APc="APc", bbox_APf="APf")
        out = {key: float(stats[name]) for key, name in keys.items()}
        if self.classwise:
            precision = lvis_eval.eval["precision"][:, :, :, 0, -1]  # (IoUs, 101 recalls, C), area all
            by_id = dict(zip(lvis_eval.params.catIds, np.moveaxis(precision, 2, 0)))
            for cat in self.categories:
                p = by_id[cat["id"]]
                out[f"bbox_AP/{cat['name']}"] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
        return out

"""OADP's student side, as mmdet components: a classifier against class text embeddings and the
RoI head that carries the object / block / global distillation branches and the inference ensemble.

The student stays an ordinary mmdet ``FasterRCNN``; only its ``roi_head`` (and the heads' class
predictors) are densekd types, registered in mmdet's ``MODELS``.
"""
import json
import os

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.structures.bbox import bbox2roi
from torch import nn

from densekd.core.registry import MODELS, build

from ..core.errors import InvalidValue, MissingFile, UnknownKey
from .text import load_text_embeddings

__all__ = ["TextEmbeddingClassifier", "OADPRoIHead", "select_text_embeddings", "with_vocabulary",
           "ensemble_scores", "branch_config"]


def select_text_embeddings(path, classes):
    """Rows ``(K, D)`` of a text-embedding file for ``classes``, in that order."""
    if not os.path.isfile(path):
        raise MissingFile(f"class text embeddings not found: {path} — make them with "
                          "`python tools/build_text_embeddings.py --teacher CLIP_CONFIG --vocabulary NAME --out "
                          f"{path}`")
    embeddings, names, _ = load_text_embeddings(path)
    index = {name: i for i, name in enumerate(names)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise UnknownKey(f"classes {missing} are not in the text embeddings {path} (it holds {len(names)} "
                         f"names, e.g. {names[:5]}) — rebuild it with tools/build_text_embeddings.py")
    return embeddings[[index[c] for c in classes]].float()


@MODELS.register_module()
class TextEmbeddingClassifier(nn.Module):
    """Region features ``(N, in_features)`` -> logits ``(N, K + 1)`` against K class text embeddings.

    ``project`` maps a region to the embedding width; logits are cosine similarities ``cos`` with
    the (unit) text embeddings, scaled one of two ways:

    - ``temperature=(train, test)``: ``cos / T`` (ViLD's detection classifier: 0.007 / 0.01);
    - ``scale_bias=(s, b)``: ``cos * scale - bias`` with ``scale`` and ``bias`` learnable, initialised
      to ``s`` and ``b``. OADP's object / block / global heads score this way; in the reference the
      two numbers (and the class embeddings) come from a prompt file learned beforehand (init
      20 and 4) and stay fixed. A head trained by no classification loss keeps its initial values.

    The last column is the background: a learnable embedding (``background='learned'``) or -inf
    (``'none'``, for heads whose logits have no background). While training, ``novel_classes``
    get -inf: the detector never sees their boxes, so it must not learn to suppress them.

    Use it as any mmdet bbox head's ``cls_predictor_cfg``; the head passes ``in_features`` and
    ``out_features`` (= K + 1). ``text_embeddings`` is a file from ``tools/build_text_embeddings.py``
    and ``classes`` the detector's class names (base first), in label order.
    """

    def __init__(self, in_features, text_embeddings, classes, novel_classes=(), out_features=None,
                 temperature=None, scale_bias=None, background="learned"):
        super().__init__()
        classes = list(classes)
        if out_features is not None and out_features != len(classes) + 1:
            raise InvalidValue(f"out_features={out_features} but {len(classes)} classes + background "
                               f"= {len(classes) + 1}: set the bbox head's num_classes to {len(classes)}")
        unknown = sorted(set(novel_classes) - set(classes))
        if unknown:
            raise InvalidValue(f"novel_classes {unknown} are not among the classes {classes}")
        if background not in ("learned", "none"):
            raise InvalidValue(f"background must be 'learned' or 'none', got {background!r}")
        if temperature is not None and scale_bias is not None:
            raise InvalidValue(f"give temperature={temperature} or scale_bias={scale_bias}, not both")
        self.text_embeddings_file = text_embeddings
        # Not saved in checkpoints: the vocabulary comes from the file, so it can be swapped.
        self.register_buffer("embeddings", select_text_embeddings(text_embeddings, classes), persistent=False)
        self.register_buffer("novel", torch.tensor([c in novel_classes for c in classes]), persistent=False)
        self.project = nn.Linear(in_features, self.embeddings.shape[1])
        self.background = nn.Parameter(torch.randn(1, self.embeddings.shape[1]) * 0.1) \
            if background == "learned" else None
        if scale_bias is None:
            self.train_temperature, self.test_temperature = temperature or (0.007, 0.01)
            self.scale = self.bias = None
        else:
            self.train_temperature = self.test_temperature = None
            self.scale = nn.Parameter(torch.tensor(float(scale_bias[0])))
            self.bias = nn.Parameter(torch.tensor(float(scale_bias[1])))

    @property
    def num_classes(self):
        return self.embeddings.shape[0]

    def forward(self, x):
        """Logits ``(N, K + 1)``."""
        region = F.normalize(self.project(x), dim=-1)
        logits = region @ self.embeddings.T
        if self.background is not None:
            logits = torch.cat([logits, region @ F.normalize(self.background, dim=-1).T], dim=1)
        if self.scale is not None:
            logits = logits * self.scale - self.bias
        else:
            logits = logits / (self.train_temperature if self.training else self.test_temperature)
        if self.background is None:
            logits = F.pad(logits, (0, 1), value=float("-inf"))
        if self.training and self.novel.any():
            logits = logits.masked_fill(F.pad(self.novel, (0, 1))[None], float("-inf"))
        return logits

    def extra_repr(self):
        scaling = (f"temperature=({self.train_temperature}, {self.test_temperature})" if self.scale is None
                   else f"scale={self.scale.item():.3g}, bias={self.bias.item():.3g}")
        return (f"classes={self.num_classes}, novel={int(self.novel.sum())}, embed_dim={self.embeddings.shape[1]}, "
                f"{scaling}, background={'learned' if self.background is not None else 'none'}")


# OADP's branches; a config gives each as a dict of overrides (``dict()`` for the defaults) or None.
# Input widths follow the RoI feature extractor, and the object head's norm the detection head's (the
# reference builds it from the detection head's config). The three score with cos * scale - bias.
REFERENCE_SCALE_BIAS = (20.0, 4.0)
BRANCH_DEFAULTS = {
    "object_head": dict(type="Shared4Conv1FCBBoxHead", fc_out_channels=1024, roi_feat_size=7, with_reg=False,
                        cls_predictor_cfg=dict(type="TextEmbeddingClassifier", background="none",
                                               scale_bias=REFERENCE_SCALE_BIAS)),
    "block_head": dict(type="Shared2FCBBoxHead", fc_out_channels=1024, roi_feat_size=7, with_reg=False,
                       cls_predictor_cfg=dict(type="TextEmbeddingClassifier", background="none",
                                              scale_bias=REFERENCE_SCALE_BIAS)),
    "global_head": dict(type="TextEmbeddingClassifier", background="none", scale_bias=REFERENCE_SCALE_BIAS),
}
WIDTH_KEYS = {"object_head": ("in_channels", "conv_out_channels"), "block_head": ("in_channels",),
              "global_head": ("in_features",)}


def branch_config(name, overrides, in_channels):
    """The config of branch ``name``: its defaults, the RoI feature width, then ``overrides``."""
    defaults = BRANCH_DEFAULTS[name]
    cfg = {**defaults, **{key: in_channels for key in WIDTH_KEYS[name]}, **overrides}
    if "cls_predictor_cfg" in defaults:
        cfg["cls_predictor_cfg"] = {**defaults["cls_predictor_cfg"], **overrides.get("cls_predictor_cfg", {})}
    return cfg


def resolve_vocabulary(vocabulary):
    """``dict(text_embeddings, classes, novel_classes)``; given ``ann_file`` instead of the class
    lists, they are read from that open-vocabulary annotation file (tools/prepare_ov_coco.py):
    categories in id order, novel = those marked ``split: 'novel'`` (OV-LVIS's 1203 names)."""
    vocabulary = dict(vocabulary)
    ann_file = vocabulary.pop("ann_file", None)
    if ann_file is not None:
        if not os.path.isfile(ann_file):
            raise MissingFile(f"vocabulary.ann_file not found: {ann_file} — write it with "
                              "`python tools/prepare_ov_coco.py --dataset coco|lvis|shapes`")
        with open(ann_file) as f:
            categories = sorted(json.load(f)["categories"], key=lambda c: c["id"])
        vocabulary.setdefault("classes", [c["name"] for c in categories])
        vocabulary.setdefault("novel_classes", [c["name"] for c in categories if c.get("split") == "novel"])
    if "classes" not in vocabulary or "text_embeddings" not in vocabulary:
        raise UnknownKey(f"vocabulary needs text_embeddings and classes (or ann_file), got {sorted(vocabulary)}")
    return vocabulary


def with_vocabulary(head, vocabulary):
    """``head``'s config with the resolved ``vocabulary`` (``text_embeddings``, ``classes``,
    ``novel_classes``) filled into its :class:`TextEmbeddingClassifier` (the head itself, or its
    ``cls_predictor_cfg``)."""
    head = dict(head)
    if head.get("type") == "TextEmbeddingClassifier":
        return {**vocabulary, **head}
    predictor = head.get("cls_predictor_cfg")
    if not predictor or predictor.get("type") != "TextEmbeddingClassifier":
        raise InvalidValue(f"an OADP head needs cls_predictor_cfg=dict(type='TextEmbeddingClassifier'), "
                           f"got {predictor!r} in {head.get('type')}")
    return dict(head, num_classes=len(vocabulary["classes"]), cls_predictor_cfg={**vocabulary, **predictor})


def ensemble_scores(bbox_logits, object_logits, lam):
    """OADP's inference ensemble of logits ``(N, K + 1)`` (last column: background) with per-class
    weights ``lam`` ``(K + 1,)``: ``softmax(bbox)^lam * softmax(object)^(1 - lam)`` over the classes,
    the object branch's softmax taken over the classes only; background = 1 - their sum."""
    object_logits = object_logits.float().clone()
    object_logits[:, -1] = float("-inf")  # the object branch only splits foreground among classes
    scores = bbox_logits.float().softmax(-1) ** lam * object_logits.softmax(-1) ** (1 - lam)
    scores[:, -1] = (1 - scores[:, :-1].sum(-1)).clamp(min=1e-6)
    return scores


@MODELS.register_module()
class OADPRoIHead(StandardRoIHead):
    """Faster R-CNN RoI head with OADP's distillation branches and inference ensemble.

    Each branch is given as a dict of overrides of :data:`BRANCH_DEFAULTS` (``dict()``: OADP's
    head) or None; its input width is the RoI extractor's.

    - ``object_head`` (4 conv + 1 fc, a :class:`TextEmbeddingClassifier` predictor): run on the
      cached OAKE proposal boxes while training; at test time its class probabilities are
      ensembled with the detection head's.
    - ``block_head`` (2 fc): run on the teacher's block boxes while training.
    - ``global_head`` (a :class:`TextEmbeddingClassifier`): on the mean-pooled last neck level (P6).

    While training, the branches run only when the data samples carry ``clip_targets`` (attached
    by :class:`~densekd.ovd.teacher_features.CLIPTargetTeacher`); their outputs are read by the
    :class:`~densekd.ovd.pyramid.DistillationPyramid` through densekd's feature recorder. Each
    branch may be None (the ablations, and the no-distillation baseline).

    ``vocabulary = dict(text_embeddings=FILE, classes=[...], novel_classes=[...])`` (or
    ``dict(text_embeddings=FILE, ann_file=OV_FILE)``, see :func:`resolve_vocabulary`) is given once
    and filled into every branch's classifier (and the detection head's ``num_classes``).

    Ensemble: ``p = softmax(bbox)^lam * softmax(object)^(1 - lam)``, ``lam`` = ``base_weight``
    for base classes and ``novel_weight`` for novel ones (the detection head's classifier says
    which are novel); background = 1 - sum of the others.
    """

    # Branches that only feed distillation losses: tools/export_student.py leaves them out.
    distillation_only = ("block_head", "global_head")

    def __init__(self, *args, vocabulary, bbox_head, object_head=None, block_head=None, global_head=None,
                 base_weight=2 / 3, novel_weight=1 / 3, **kwargs):
        vocabulary = resolve_vocabulary(vocabulary)
        super().__init__(*args, bbox_head=with_vocabulary(bbox_head, vocabulary), **kwargs)
        width = self.bbox_roi_extractor.out_channels
        if object_head is not None and bbox_head.get("norm_cfg"):
            object_head = {"norm_cfg": bbox_head["norm_cfg"], **object_head}
        for name, overrides in (("object_head", object_head), ("block_head", block_head),
                                ("global_head", global_head)):
            head = None if overrides is None else build(with_vocabulary(branch_config(name, dict(overrides), width),
                                                                        vocabulary))
            setattr(self, name, head)
        self.base_weight, self.novel_weight = base_weight, novel_weight

    def ensemble_weights(self):
        """``lam`` per class, ``(K + 1,)``; the background entry is unused."""
        novel = F.pad(self.bbox_head.fc_cls.novel, (0, 1))
        return torch.where(novel, self.novel_weight, self.base_weight).float()

    def _bbox_forward(self, x, rois):
        results = super()._bbox_forward(x, rois)
        if self.training or self.object_head is None:
            return results
        object_logits = self.object_head(results["bbox_feats"])[0]
        scores = ensemble_scores(results["cls_score"], object_logits, self.ensemble_weights())
        results["cls_score"] = scores.log()  # the bbox head's softmax gives these probabilities back
        return results

    def region_head(self, head, x, boxes):
        """Run ``head`` on RoI features of per-image ``boxes`` (list of ``(n_i, 4)``); its class output."""
        rois = bbox2roi(boxes)
        feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        return head(feats)[0]

    def loss(self, x, rpn_results_list, batch_data_samples):
        losses = super().loss(x, rpn_results_list, batch_data_samples)
        targets = [sample.get("clip_targets") for sample in batch_data_samples]
        if any(t is None for t in targets):
            return losses  # no teacher in this run: the branches have nothing to learn from
        if self.object_head is not None:
            self.region_head(self.object_head, x, [t["object_boxes"] for t in targets])
        if self.block_head is not None:
            self.region_head(self.block_head, x, [t["block_boxes"] for t in targets])
        if self.global_head is not None:
            self.global_head(x[-1].mean(dim=(2, 3)))
        return losses

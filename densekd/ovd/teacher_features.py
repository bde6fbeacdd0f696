"""Where OADP's teacher targets come from: a feature cache written offline, or the CLIP teacher online.

Both give, per image id, the dict of :data:`~densekd.ovd.clip_teacher.TEACHER_FIELDS` in the
original image's pixel coordinates, embeddings as float32:

- :class:`CachedTeacherFeatures` reads the safetensors store written by
  ``tools/extract_clip_features.py`` (embeddings stored as float16);
- :class:`OnlineTeacherFeatures` runs :class:`ObjectAwareCLIP` on the image file and its stored
  proposals, inside the training step, with no cache.

Both sides call :func:`extract_image`, so the cache holds exactly what the online teacher computes.
"""
import functools
import hashlib
import json
import os

import torch
from mmdet.structures.bbox import bbox_flip

from densekd.core.registry import MODELS

from ..core.errors import InvalidValue, MissingFile, UnknownKey
from .clip_teacher import ObjectAwareCLIP, read_rgb
from .feature_store import FeatureStore, write_store

__all__ = [
    "CachedTeacherFeatures",
    "OnlineTeacherFeatures",
    "extract_image",
    "build_extractor",
    "extract_clip_features",
    "teacher_fingerprint",
    "split_images",
    "to_input_frame",
    "CLIPTargetTeacher",
]

EMBEDDING_FIELDS = ("global", "blocks", "objects")


def split_images(ann_file, img_prefix):
    """``{image_id: path}`` for every image of a COCO annotation file, in id order."""
    if not os.path.isfile(ann_file):
        raise MissingFile(f"annotation file not found: {ann_file} — prepare the dataset first "
                          "(`python tools/prepare_ov_coco.py`, or `python tools/make_demo_data.py` for the demo)")
    with open(ann_file) as f:
        images = json.load(f)["images"]
    return {img["id"]: os.path.join(img_prefix, img["file_name"]) for img in sorted(images, key=lambda i: i["id"])}


def best_proposals(proposals, max_proposals):
    """The ``max_proposals`` best stored proposals of one image: boxes ``(P, 4)``, objectness ``(P,)``."""
    boxes, objectness = proposals["boxes"].float(), proposals["objectness"].float()
    order = objectness.argsort(descending=True)[:max_proposals]
    return boxes[order], objectness[order]


def extract_image(teacher, image_path, proposals, max_proposals=None, dtype=torch.float16):
    """One image's teacher targets, embeddings cast to ``dtype`` (boxes and objectness stay float32)."""
    boxes, objectness = best_proposals(proposals, max_proposals)
    out = teacher.embed_image(read_rgb(image_path), boxes, objectness)
    return {k: (v.to(dtype) if k in EMBEDDING_FIELDS else v.float()).cpu().contiguous() for k, v in out.items()}


def _extract_by_id(image_id, teacher, images, proposals, max_proposals, dtype):
    return extract_image(teacher, images[image_id], proposals.get(image_id), max_proposals, dtype)


def build_extractor(device, clip_teacher, images, proposals_root, max_proposals=None, dtype="float16"):
    """A worker for :func:`~densekd.ovd.feature_store.write_store`: ``image_id -> targets`` on ``device``."""
    teacher = ObjectAwareCLIP(**clip_teacher).to(device)
    return functools.partial(_extract_by_id, teacher=teacher, images=images, proposals=FeatureStore(proposals_root),
                             max_proposals=max_proposals, dtype=getattr(torch, dtype))


class CachedTeacherFeatures:
    """Teacher targets read from a feature cache directory."""

    def __init__(self, root):
        if not os.path.isdir(root):
            raise MissingFile(f"CLIP feature cache not found: {root} — write it with "
                              "`python tools/extract_clip_features.py CONFIG --split SPLIT`")
        self.store = FeatureStore(root)

    def __call__(self, image_id, image_path=None):
        if image_id not in self.store:
            raise UnknownKey(f"image {image_id} is not in the CLIP feature cache {self.store.root} — "
                             "finish the extraction (rerun tools/extract_clip_features.py; it resumes)")
        return {k: v.float() for k, v in self.store.get(image_id).items()}


class OnlineTeacherFeatures:
    """Teacher targets computed on the fly from the image file and its stored proposals."""

    def __init__(self, clip_teacher, proposals_root, max_proposals=None, device="cpu"):
        self.teacher = ObjectAwareCLIP(**clip_teacher).to(device) if isinstance(clip_teacher, dict) else clip_teacher
        self.proposals = FeatureStore(proposals_root)
        self.max_proposals = max_proposals

    def __call__(self, image_id, image_path):
        return extract_image(self.teacher, image_path, self.proposals.get(image_id), self.max_proposals, torch.float32)


def to_input_frame(targets, metainfo, device=None):
    """Move one image's target boxes from original-image pixels into the network input's frame.

    Follows ``Resize`` (``scale_factor``) and ``RandomFlip`` (``flip``, ``flip_direction`` over the
    resized ``img_shape``) — the geometric transforms of OADP's pipelines.
    """
    out = {}
    scale = torch.tensor(metainfo.get("scale_factor", (1.0, 1.0)), dtype=torch.float32).repeat(2)
    for key, value in targets.items():
        value = value.to(device)
        if key.endswith("boxes"):
            value = value * scale.to(value.device)
            if metainfo.get("flip", False):
                value = bbox_flip(value, metainfo["img_shape"], metainfo["flip_direction"])
        out[key] = value
    return out


@MODELS.register_module()
class CLIPTargetTeacher(torch.nn.Module):
    """OADP's teacher in :class:`~densekd.core.module.DistillModule`: attaches each image's CLIP
    targets (global, blocks, objects and their boxes, in the input frame) to its data sample as
    ``clip_targets``, read from a feature cache (``cache=DIR``) or computed online
    (``online=dict(clip_teacher=..., proposals=DIR, max_proposals=N)``).
    """

    takes_data_samples = True  # DistillModule calls forward(inputs, data_samples)
    loads_own_weights = True  # the CLIP weights come from its own config, not a densekd checkpoint

    def __init__(self, cache=None, online=None):
        super().__init__()
        if (cache is None) == (online is None):
            raise InvalidValue("CLIPTargetTeacher needs exactly one of cache=DIR (from "
                               "tools/extract_clip_features.py) or online=dict(clip_teacher=..., proposals=DIR)")
        if cache is not None:
            self.clip = None
            self.source = CachedTeacherFeatures(cache)
        else:
            online = dict(online)
            self.clip = ObjectAwareCLIP(**online.pop("clip_teacher"))
            self.source = OnlineTeacherFeatures(self.clip, online.pop("proposals"), **online)

    @torch.no_grad()
    def forward(self, inputs, data_samples):
        for sample in data_samples:
            targets = self.source(sample.img_id, sample.img_path)
            sample.clip_targets = to_input_frame(targets, sample.metainfo, inputs.device)
        return data_samples


def teacher_fingerprint(clip_teacher, settings):
    """A short hash of what determines the features: the teacher spec, its weights file, the settings."""
    spec = json.dumps({"teacher": clip_teacher, "settings": settings}, sort_keys=True, default=str)
    digest = hashlib.sha256(spec.encode())
    weights = clip_teacher.get("pretrained")
    if weights and os.path.isfile(weights):
        stat = os.stat(weights)
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def extract_clip_features(cfg, split_name, out=None, devices=1, accelerator="cpu", overwrite=False):
    """Write the CLIP teacher targets of ``cfg.clip_features.splits[split_name]`` (``cfg``: a config with
    ``clip_teacher`` and ``clip_features``) as a resumable feature store at ``out`` (default: the split's
    ``out``); return the store's summary."""
    features = cfg.clip_features
    if split_name not in features.splits:
        raise UnknownKey(f"split {split_name!r} not in clip_features.splits: choose from {sorted(features.splits)}")
    split = features.splits[split_name]
    images = split_images(split.ann_file, split.img_prefix)
    if not os.path.isdir(split.proposals):
        raise MissingFile(f"proposals not found: {split.proposals} — generate them with "
                          "`python tools/generate_proposals.py RPN_CONFIG RPN_CHECKPOINT --split "
                          f"{split_name} --out {split.proposals}`")
    clip_teacher = cfg.clip_teacher.to_dict()
    settings = dict(max_proposals=features.get("max_proposals"), dtype=features.get("dtype", "float16"))
    worker = functools.partial(build_extractor, clip_teacher=clip_teacher, images=images,
                               proposals_root=split.proposals, **settings)
    metadata = dict(kind="oadp_clip_features", fingerprint=teacher_fingerprint(clip_teacher, settings),
                    teacher=json.dumps(clip_teacher, default=str), **{k: str(v) for k, v in settings.items()})
    return write_store(out or split.out, sorted(images), worker, metadata=metadata, devices=devices,
                       accelerator=accelerator, shard_size=features.get("shard_size", 64),
                       overwrite=overwrite, desc=f"CLIP features ({split_name})")

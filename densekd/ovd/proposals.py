"""Class-agnostic proposals from a trained RPN, one image at a time (the worker of tools/generate_proposals.py).

Boxes are ``(P, 4)`` float32 ``x1, y1, x2, y2`` in the ORIGINAL image's pixels (the test
pipeline's resize is undone by mmdet's ``rescale``), objectness ``(P,)`` sorted descending.
"""
import functools
import hashlib
import os

import torch
from mmengine.dataset import pseudo_collate

from densekd.core.config import load_config
from densekd.core.data import build_dataset
from densekd.core.module import load_student_weights
from densekd.core.registry import build
from ..core.errors import InvalidValue, MissingFile, UnknownKey
from .feature_store import write_store

__all__ = ["rpn_model_cfg", "split_dataset_cfg", "load_split", "top_proposals", "build_proposal_worker", "generate_proposals"]


def rpn_model_cfg(cfg, topk):
    """The config's RPN, set to keep ``topk`` proposals per image; ValueError for other detectors."""
    model = cfg.model.copy()
    if model.get("type") != "RPN":
        raise InvalidValue(f"{cfg.filename} builds a {model.get('type')!r}, not an 'RPN': proposals come "
                           "from a class-agnostic RPN config (model.type='RPN'), e.g. "
                           "configs/demo/rpn_shapes_base.py")
    if topk < 1:
        raise InvalidValue(f"--topk must be at least 1, got {topk}")
    model.test_cfg.rpn.max_per_img = topk
    return model


def split_dataset_cfg(cfg, split):
    """The split's dataset config with the test pipeline (no annotations, no random transforms)."""
    loader = cfg.get(f"{split}_dataloader")
    if loader is None:
        raise UnknownKey(f"{cfg.filename} has no {split}_dataloader: pick another --split")
    pipeline = [t for t in cfg.test_dataloader.dataset.pipeline if t["type"] != "LoadAnnotations"]
    random = [t["type"] for t in pipeline if t["type"].startswith("Random")]
    if random:
        raise InvalidValue(f"the test pipeline of {cfg.filename} has random transforms {random}: "
                           "proposals need a deterministic pipeline; remove them from test_dataloader")
    dataset = loader.dataset.copy()
    dataset.update(pipeline=pipeline, test_mode=True)  # test_mode: keep every image, no filtering
    return dataset


_LOADED = {}  # (config, options, split) -> (cfg, dataset, index_of), built once per process


def load_split(config, cfg_options, split):
    """``(cfg, dataset, {image_id: index})`` of ``split``, cached."""
    key = (config, repr(sorted(cfg_options.items())), split)
    if key not in _LOADED:
        cfg = load_config(config, cfg_options)
        dataset = build_dataset(split_dataset_cfg(cfg, split), cfg.get("data_prepare"))
        index_of = {dataset.get_data_info(i)["img_id"]: i for i in range(len(dataset))}
        _LOADED[key] = cfg, dataset, index_of
    return _LOADED[key]


def top_proposals(sample, topk):
    """``{'boxes': (P, 4) float32 xyxy clipped to the original image, 'objectness': (P,) descending}``."""
    pred = sample.pred_instances
    scores, order = pred.scores.float().sort(descending=True, stable=True)
    keep = order[:topk]
    boxes = pred.bboxes[keep].float().cpu()
    height, width = sample.ori_shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return {"boxes": boxes.contiguous(), "objectness": scores[:topk].cpu().contiguous()}


def build_proposal_worker(device, config, cfg_options, checkpoint, split, topk):
    """Build the RPN on ``device`` once; return ``image_id -> {'boxes', 'objectness'}``."""
    cfg, dataset, index_of = load_split(config, cfg_options, split)
    model = load_student_weights(build(rpn_model_cfg(cfg, topk)), checkpoint).to(device).eval()

    @torch.no_grad()
    def compute(image_id):
        batch = pseudo_collate([dataset[index_of[image_id]]])
        return top_proposals(model.test_step(batch)[0], topk)

    return compute


def sha256_prefix(path, length=16):
    """The first ``length`` hex digits of the file's SHA-256."""
    if not os.path.isfile(path):
        raise MissingFile(f"checkpoint not found: {path} — train the RPN first with "
                          "`python tools/train.py CONFIG`")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(functools.partial(f.read, 1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def resolve_accelerator(accelerator):
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return accelerator


def generate_proposals(config, checkpoint, split, out, topk=100, devices=1, accelerator="auto", shard_size=64,
                       overwrite=False, cfg_options=None):
    """Run the RPN of ``config`` + ``checkpoint`` on every image of ``split``; store each image's top ``topk``
    proposals (resumable) at ``out``; return the store's summary."""
    options = dict(cfg_options or {})
    cfg, dataset, _ = load_split(config, options, split)
    rpn_model_cfg(cfg, topk)  # fail now, not in a worker, on a non-RPN config
    image_ids = [dataset.get_data_info(i)["img_id"] for i in range(len(dataset))]
    metadata = dict(kind="proposals", config=os.path.normpath(config), split=split,
                    checkpoint_sha256=sha256_prefix(checkpoint), topk=str(topk),
                    ann_file=os.path.normpath(dataset.ann_file), boxes="xyxy float32, original image pixels",
                    objectness="RPN objectness (sigmoid), float32, sorted descending")
    worker = functools.partial(build_proposal_worker, config=config, cfg_options=options,
                               checkpoint=checkpoint, split=split, topk=topk)
    return write_store(out, image_ids, worker, metadata=metadata, devices=devices,
                       accelerator=resolve_accelerator(accelerator), shard_size=shard_size,
                       overwrite=overwrite, desc=f"proposals ({split})")

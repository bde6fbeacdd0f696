"""The demo's tiny CLIP, pretrained on the shapes training images: the offline stand-in for web-scale CLIP.

The model (``clip_teacher.model_name`` of a teacher config, registered from its ``model_config_file``)
is trained contrastively, for ALL ten classes, novel ones included (CLIP knows names the detector
never gets boxes for), on

* tight crops of ground-truth boxes (what plain crop embeddings see),
* context squares around objects, side ``sqrt(r w h)`` (``context_ratio``), embedded through
  ``ObjectAwareCLIP``'s object token masked to a box (what OAKE computes), each captioned with a
  random ViLD prompt of the object's class. The box is proposal-like (``proposal_jitter``: each edge
  moved by up to that share of the object's size, IoU >= 0.5 with it), not the object's exact box:
  OAKE embeds RPN proposals, and most proposals that cover an object are loose (IoU 0.5-0.7). Trained
  on exact boxes, the model named 27% of the val proposals at IoU 0.5-0.6 right and 57% at 0.7-0.8, and
* scene views: the whole image or a random window, captioned "a photo of a circle, a star and
  a ring"-style with the classes of the objects mostly inside it (global / block embeddings).

A batch holds many captions of the same class, so the loss uses soft targets: every caption
with the same class set as a view is a positive (image->text and text->image). A ViT trained
from scratch learns tight crops much faster than cluttered ones, so context squares and scenes
ramp up over the first ``curriculum`` share of the steps. Training through the object token
is a concession to the model's size: a web-scale CLIP reads masked object tokens without it.

Zero-shot evaluation: each held-out (val) ground-truth box is classified by cosine similarity to
the ViLD-ensembled class embeddings, through ``ObjectAwareCLIP`` built from the teacher config:
plain crops and object-aware embeddings. ``tools/pretrain_demo_clip.py`` is the command line.
"""
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple, Optional

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_overlaps
from torchvision.ops import roi_align

from densekd.core.errors import Diverged, InvalidValue, MissingFile
from densekd.data.manifest import read_json_or_none
from densekd.data.shapes import SHAPES_CLASSES
from densekd.ovd.clip_teacher import ObjectAwareCLIP, object_token_masks, read_rgb
from densekd.ovd.splits import SHAPES_NOVEL
from densekd.ovd.text import VILD_TEMPLATES, text_embeddings

__all__ = [
    "SCENE_TEMPLATES",
    "Batch",
    "DemoClipRecipe",
    "build_model",
    "caption",
    "embed_views",
    "hard_share",
    "inputs_digest",
    "learning_rate",
    "load_split",
    "make_optimizer",
    "object_crop_boxes",
    "object_token_grid",
    "proposal_like_boxes",
    "pretrain_demo_clip",
    "record_path",
    "render",
    "reuse_problem",
    "reuse_weights",
    "sample_batch",
    "save_clip_weights",
    "scene_windows",
    "soft_clip_loss",
    "zero_shot_accuracy",
    "zero_shot_eval",
    "zero_shot_table",
]

# Templates where "a {}" reads well with a list of names ("a photo of a circle and a star").
SCENE_TEMPLATES = tuple(t for t in VILD_TEMPLATES if " a {}" in t or t.startswith("a {}"))


@dataclass
class DemoClipRecipe:
    """The pretraining hyper-parameters; the defaults are the recipe docs/oadp.md records."""

    steps: int = 1440  # optimiser steps
    batch_size: int = 128  # views per step
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.05  # AdamW weight decay
    clip_grad: float = 1.0  # gradient-norm clip, 0 = off
    warmup: Optional[int] = None  # linear warm-up steps; None = 10% of the steps
    scene_fraction: float = 0.2  # share of whole-image / window views with multi-object captions
    tight_fraction: float = 0.2  # share of object views cropped tightly to the box (OADP distils OAKE, not crops)
    context_ratio: tuple = (1.5, 4.0)  # context squares have side sqrt(r w h), r uniform in this range
    object_token_fraction: float = 1.0  # share of context squares embedded through the OAKE object token
    curriculum: float = 0.5  # share of the steps over which context and scene views ramp up to full
    proposal_jitter: float = 0.3  # context views' object boxes: edges moved by up to this share of the size, IoU >= 0.5
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidValue(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("scene_fraction", "tight_fraction", "object_token_fraction", "curriculum", "proposal_jitter"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidValue(f"{name} must be in [0, 1], got {getattr(self, name)}")
        self.context_ratio = tuple(self.context_ratio)
        if not 1 <= self.context_ratio[0] <= self.context_ratio[1]:
            raise InvalidValue(f"context_ratio needs 1 <= LOW <= HIGH, got {self.context_ratio}")
        if self.warmup is None:
            self.warmup = max(1, self.steps // 10)


# ---------------------------------------------------------------------------- data
def load_split(root, split):
    """A shapes split: images ``(N, 3, S, S)`` uint8, boxes ``(A, 4)`` xyxy, labels ``(A,)``, image index ``(A,)``."""
    ann_file = os.path.join(root, "annotations", f"instances_{split}.json")
    if not os.path.isfile(ann_file):
        raise MissingFile(f"{ann_file} not found — make the demo data first: "
                          "python tools/make_demo_data.py --out data/shapes")
    with open(ann_file) as f:
        coco = json.load(f)
    label_of = {}
    for category in coco["categories"]:
        if category["name"] not in SHAPES_CLASSES:
            raise InvalidValue(f"{ann_file}: category {category['name']!r} is not a shapes class "
                               f"({', '.join(SHAPES_CLASSES)}); point --data at a shapes dataset")
        label_of[category["id"]] = SHAPES_CLASSES.index(category["name"])
    index_of = {image["id"]: i for i, image in enumerate(coco["images"])}
    images = torch.stack([read_rgb(os.path.join(root, split, image["file_name"])) for image in coco["images"]])
    anns = [a for a in coco["annotations"] if a["bbox"][2] > 0 and a["bbox"][3] > 0]
    xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
    labels = torch.tensor([label_of[a["category_id"]] for a in anns], dtype=torch.long)
    image_index = torch.tensor([index_of[a["image_id"]] for a in anns], dtype=torch.long)
    return images, boxes, labels, image_index


def object_crop_boxes(boxes, image_size, tight, rng, ratio_range=(1.5, 4.0)):
    """Crop boxes ``(n, 4)`` for object boxes ``(n, 4)``: tight (jittered) where ``tight`` ``(n,)``, else squares.

    A context square has side ``sqrt(r w h)``, ``r`` uniform in ``ratio_range`` (OAKE's expansion uses
    its ``expand_ratio`` as ``r``), at least ``max(w, h)`` and at most the image side, the object near
    its centre.
    """
    boxes = boxes.numpy().astype(np.float64)
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    ratio = rng.uniform(*ratio_range, size=len(boxes))
    side = np.sqrt(ratio * wh[:, 0] * wh[:, 1])
    side = np.minimum(np.maximum(side, wh.max(axis=1)), image_size)
    slack = np.maximum(side[:, None] - wh, 0) / 2
    square_centre = centre + rng.uniform(-0.25, 0.25, size=wh.shape) * slack
    corner = np.clip(square_centre - side[:, None] / 2, 0, image_size - side[:, None])
    squares = np.concatenate([corner, corner + side[:, None]], axis=1)
    # tight crops: the box with each edge moved by up to 8% of its size
    jitter = rng.uniform(-0.08, 0.08, size=(len(boxes), 4)) * np.tile(wh, 2)
    tight_boxes = np.clip(boxes + jitter, 0, image_size)
    tight_boxes[:, 2:] = np.maximum(tight_boxes[:, 2:], tight_boxes[:, :2] + 2)
    return torch.from_numpy(np.where(tight[:, None], tight_boxes, squares)).float()


def proposal_like_boxes(boxes, image_size, rng, jitter, min_iou=0.5, tries=16):
    """Boxes ``(n, 4)`` like RPN proposals of objects ``boxes`` ``(n, 4)``: each edge moved by up to ``jitter`` of the
    box's size, redrawn until the IoU with the object is at least ``min_iou`` (else the object's box), inside the image.
    """
    boxes = boxes.double()
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)
    moved = boxes[:, None] + torch.from_numpy(rng.uniform(-jitter, jitter, size=(len(boxes), tries, 4))) * wh.repeat(1, 2)[:, None]
    moved = moved.clamp(0, image_size)
    moved[..., 2:] = torch.maximum(moved[..., 2:], moved[..., :2] + 2)
    good = bbox_overlaps(moved, boxes[:, None])[..., 0] >= min_iou  # (n, tries)
    first = good.int().argmax(dim=1)
    chosen = torch.where(good.any(dim=1)[:, None], moved[torch.arange(len(boxes)), first], boxes)
    return chosen.float()


def scene_windows(boxes, labels, image_index, chosen, image_size, rng):
    """Windows ``(n, 4)`` over images ``chosen`` ``(n,)`` and the class sets of the objects mostly inside each."""
    windows, class_sets = [], []
    for image in chosen:
        mine = (image_index == image).nonzero().flatten()
        if rng.random() < 0.3:
            window = np.array([0.0, 0.0, image_size, image_size])
        else:
            side = rng.uniform(0.4, 1.0) * image_size
            x, y = rng.uniform(0, image_size - side, size=2)
            window = np.array([x, y, x + side, y + side])
        inside = _inside_fraction(boxes[mine].numpy(), window) >= 0.5
        if not inside.any():  # an empty window: take the whole image instead
            window, inside = np.array([0.0, 0.0, image_size, image_size]), np.ones(len(mine), bool)
        windows.append(window)
        class_sets.append(tuple(sorted({int(labels[i]) for i in mine[torch.from_numpy(inside)]})))
    return torch.tensor(np.array(windows), dtype=torch.float32).reshape(-1, 4), class_sets


def _inside_fraction(boxes, window):
    """Share ``(n,)`` of each box's area ``(n, 4)`` that lies inside ``window`` ``(4,)``."""
    low = np.maximum(boxes[:, :2], window[:2])
    high = np.minimum(boxes[:, 2:], window[2:])
    overlap = np.clip(high - low, 0, None).prod(axis=1)
    return overlap / np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(axis=1), 1e-6)


def caption(class_set, rng):
    """A prompt naming the classes of ``class_set`` (indices into SHAPES_CLASSES), in random order."""
    names = [SHAPES_CLASSES[c] for c in rng.permutation(list(class_set))]
    if len(names) == 1:
        return VILD_TEMPLATES[rng.integers(len(VILD_TEMPLATES))].format(names[0])
    listed = ", a ".join(names[:-1]) + " and a " + names[-1]
    return SCENE_TEMPLATES[rng.integers(len(SCENE_TEMPLATES))].format(listed)


def render(images, image_index, crop_boxes, size, mean, std, rng):
    """Views ``(n, 3, size, size)`` of uint8 ``images``: crops resized by area, colour-jittered, normalised, and
    randomly flipped left-right; returns the views and which were flipped ``(n,)``."""
    picked, inverse = image_index.unique(return_inverse=True)
    rois = torch.cat([inverse[:, None].float(), crop_boxes], dim=1)
    views = roi_align(images[picked].float(), rois, output_size=size, spatial_scale=1.0,
                      sampling_ratio=-1, aligned=True)
    n = len(views)
    flip = torch.from_numpy(rng.random(n) < 0.5)
    views[flip] = views[flip].flip(-1)
    brightness = torch.from_numpy(rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))).float()
    contrast = torch.from_numpy(rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))).float()
    grey = views.mean(dim=(1, 2, 3), keepdim=True)
    views = ((views - grey) * contrast + grey * brightness).clamp(0, 255)
    return (views - mean) / std, flip


def hard_share(step, steps, curriculum):
    """How much of their full share the context and scene views get at ``step``: ramps 0 -> 1."""
    ramp_steps = curriculum * steps
    return 1.0 if ramp_steps <= 0 else min(1.0, step / ramp_steps)


class Batch(NamedTuple):
    """One training batch of B views."""

    crop_boxes: torch.Tensor  # (B, 4) xyxy in image pixels
    view_images: torch.Tensor  # (B,) image index of each view
    object_boxes: torch.Tensor  # (B, 4) the object's box (the whole crop for scene views)
    object_token: torch.Tensor  # (B,) bool: embed through the object token (OAKE) instead of CLS
    keys: list  # (B,) class-index tuples: equal keys are positives
    captions: list  # (B,) str


def sample_batch(data, recipe, image_size, rng, share=1.0):
    """One :class:`Batch` of ``recipe.batch_size`` views: tight crops, context squares (CLS or object token)
    and scene windows. With ``recipe.proposal_jitter``, a context square's object box is a proposal-like box of
    the object (:func:`proposal_like_boxes`): the square is taken around it and the object token masked to it, as
    OAKE does with an RPN proposal.

    ``share`` in [0, 1] scales the shares of context squares and scene views (the rest are tight crops).
    """
    images, boxes, labels, image_index = data
    num_scenes = int(round(recipe.batch_size * recipe.scene_fraction * share))
    picked = torch.from_numpy(rng.integers(len(boxes), size=recipe.batch_size - num_scenes))
    context = rng.random(len(picked)) < (1 - recipe.tight_fraction) * share
    token = torch.from_numpy(context & (rng.random(len(picked)) < recipe.object_token_fraction))
    object_boxes = boxes[picked]
    if recipe.proposal_jitter > 0:
        jittered = proposal_like_boxes(object_boxes, image_size, rng, recipe.proposal_jitter)
        object_boxes = torch.where(torch.from_numpy(context)[:, None], jittered, object_boxes)
    crops = object_crop_boxes(object_boxes, image_size, ~context, rng, recipe.context_ratio)
    scene_images = rng.integers(len(images), size=num_scenes)
    windows, scene_keys = scene_windows(boxes, labels, image_index, scene_images, image_size, rng)
    keys = [(int(labels[i]),) for i in picked] + scene_keys
    return Batch(
        crop_boxes=torch.cat([crops, windows]),
        view_images=torch.cat([image_index[picked], torch.from_numpy(scene_images).long()]),
        object_boxes=torch.cat([object_boxes, windows]),
        object_token=torch.cat([token, torch.zeros(num_scenes, dtype=torch.bool)]),
        keys=keys,
        captions=[caption(k, rng) for k in keys],
    )


# ---------------------------------------------------------------------------- model and loss
def build_model(spec, seed):
    """The random open_clip model of a teacher spec (built the way the teacher builds it), its tokenizer,
    and an ``ObjectAwareCLIP`` around that very model for the object-token views."""
    if spec.get("model_config_file"):
        open_clip.add_model_config(spec["model_config_file"])
    torch.manual_seed(seed)
    model = open_clip.create_model(spec["model_name"])
    wrapper = ObjectAwareCLIP(**{**spec, "pretrained": None})
    wrapper.clip = model  # share the trainable model (the wrapper froze its own copy)
    return model, open_clip.get_tokenizer(spec["model_name"]), wrapper


def object_token_grid(wrapper):
    """Side of the patch grid the object token sees (``ObjectAwareCLIP``'s object stride)."""
    size = wrapper.image_size
    probe = torch.zeros(1, 3, size, size, device=wrapper.device)
    with torch.no_grad():
        return math.isqrt(wrapper._tokens(probe, wrapper.object_stride).shape[1] - 1)


def embed_views(model, wrapper, views, batch, flipped, grid):
    """Unit embeddings ``(B, D)``: CLS for plain views, the OAKE object token (masked to the box) for the rest."""
    token = batch.object_token.to(views.device)
    plain = F.normalize(model.encode_image(views[~token]), dim=-1)
    if not token.any():
        return plain
    outside = object_token_masks(batch.object_boxes[batch.object_token], batch.crop_boxes[batch.object_token], grid)
    mirrored = flipped[batch.object_token]
    outside[mirrored] = outside[mirrored].view(-1, grid, grid).flip(-1).flatten(1)
    objects = wrapper._object_embeddings(views[token], outside.to(views.device))
    order = torch.cat([(~token).nonzero().flatten(), token.nonzero().flatten()])
    return torch.cat([plain, objects])[order.argsort()]


def soft_clip_loss(image_emb, text_emb, keys, logit_scale):
    """Symmetric CLIP loss of unit ``image_emb``/``text_emb`` ``(B, D)``; equal ``keys`` (B,) are all positives."""
    ids = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    key_ids = torch.tensor([ids[k] for k in keys], device=image_emb.device)
    positive = (key_ids[:, None] == key_ids[None, :]).float()
    targets = positive / positive.sum(dim=1, keepdim=True)  # symmetric, so it serves both directions
    logits = logit_scale * image_emb @ text_emb.T
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def make_optimizer(model, lr, weight_decay):
    """AdamW; weight decay on matrices only (not on norms, biases, embeddings, the logit scale)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        is_embedding = "embedding" in name or name.endswith("class_embedding")
        (decay if param.ndim >= 2 and not is_embedding else no_decay).append(param)
    groups = [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def learning_rate(step, steps, warmup, peak):
    """Linear warm-up to ``peak`` then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------- training
def pretrain_demo_clip(spec, data_root, out, recipe=None, device="cpu", progress=True):
    """Train the tiny CLIP of teacher ``spec`` on ``data_root``'s train split and save its weights at ``out``.

    Returns the model (in eval mode) and a summary: ``weights``, ``model_name``, ``model_config_file``,
    ``seconds``, ``first_loss``, ``final_loss``, ``loss_every_20_steps``, ``logit_scale``.
    """
    recipe = recipe or DemoClipRecipe()
    rng = np.random.default_rng(recipe.seed)
    model, tokenizer, wrapper = build_model(spec, recipe.seed)
    model.to(device).train()
    wrapper.to(device)
    grid = object_token_grid(wrapper)
    image_size = model.visual.image_size[0]
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1) * 255
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1) * 255
    data = load_split(data_root, "train")
    if data[0].shape[-1] != data[0].shape[-2]:
        raise InvalidValue(f"shapes images must be square, got {tuple(data[0].shape[-2:])}")
    optimizer = make_optimizer(model, recipe.lr, recipe.weight_decay)
    steps = range(recipe.steps)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="pretrain demo CLIP", unit="step")
    losses, start = [], time.time()
    for step in steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe.steps, recipe.warmup, recipe.lr)
        share = hard_share(step, recipe.steps, recipe.curriculum)
        batch = sample_batch(data, recipe, data[0].shape[-1], rng, share)
        views, flipped = render(data[0], batch.view_images, batch.crop_boxes, image_size, mean, std, rng)
        image_emb = embed_views(model, wrapper, views.to(device), batch, flipped, grid)
        text_emb = F.normalize(model.encode_text(tokenizer(batch.captions).to(device)), dim=-1)
        loss = soft_clip_loss(image_emb, text_emb, batch.keys, model.logit_scale.exp().clamp(max=100))
        if not torch.isfinite(loss):
            raise Diverged(f"the loss became {loss.item()} at step {step}; lower the learning rate "
                           f"(now {recipe.lr}) or raise the warm-up (now {recipe.warmup} steps)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad)
        optimizer.step()
        losses.append(loss.item())
        if progress:
            steps.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
    seconds = round(time.time() - start, 1)
    save_clip_weights(model, out)
    summary = dict(
        weights=out,
        model_name=spec["model_name"],
        model_config_file=spec.get("model_config_file"),
        seconds=seconds,
        first_loss=round(float(np.mean(losses[:10])), 4),
        final_loss=round(float(np.mean(losses[-20:])), 4),
        loss_every_20_steps=[round(float(np.mean(losses[i:i + 20])), 4) for i in range(0, len(losses), 20)],
        logit_scale=round(model.logit_scale.exp().item(), 2),
        inputs_sha256=inputs_digest(spec, data_root, data),
    )
    return model.eval(), summary


def save_clip_weights(model, path):
    """``model.state_dict()`` as safetensors at ``path``, via a temporary file and a rename (never half-written)."""
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    partial = f"{path}.partial"
    save_file(state, partial, metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # safetensors creates the file owner-only
    os.replace(partial, path)


# ---------------------------------------------------------------------------- reusing finished weights
def record_path(weights):
    """The JSON beside a weights file that records how they were made (arguments, losses, zero-shot accuracy)."""
    return os.path.splitext(weights)[0] + ".json"


def inputs_digest(spec, data_root, train=None):
    """sha256 of what pretraining reads besides its recipe: the model's config file and the train split as
    :func:`load_split` decodes it (pixels, boxes, labels); ``train``: that split, when already loaded."""
    digest = hashlib.sha256()
    if spec.get("model_config_file"):
        with open(spec["model_config_file"], "rb") as f:
            digest.update(f.read())
    for tensor in train if train is not None else load_split(data_root, "train"):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def reuse_problem(record, spec, recipe, digest):
    """Why the weights a pretraining ``record`` (the JSON beside them) describes are not what pretraining
    ``spec`` with ``recipe`` on inputs of ``digest`` (:func:`inputs_digest`) would make; None when they are."""
    if record is None:
        return "no record (.json) beside them"
    if record.get("model_name") != spec["model_name"]:
        return f"another model ({record.get('model_name')!r}, not {spec['model_name']!r})"
    recorded = record.get("args", {})
    changed = [f"{name}={recorded.get(name)!r} (now {value!r})"
               for name, value in json.loads(json.dumps(asdict(recipe))).items() if recorded.get(name) != value]
    if changed:
        return "another recipe: " + ", ".join(changed)
    if record.get("inputs_sha256") != digest:
        return "another model config or other training images (their sha256 differs)"
    return None


def reuse_weights(source, out, spec, data_root, recipe):
    """Copy the weights at ``source`` (and their record) to ``out`` when pretraining ``spec`` with ``recipe`` on
    ``data_root`` would make them: ``(record, None)``; else ``(None, why not)`` and nothing is written."""
    if not os.path.isfile(source):
        return None, f"no weights at {source}"
    record = read_json_or_none(record_path(source))
    why = reuse_problem(record, spec, recipe, inputs_digest(spec, data_root))
    if why:
        return None, why
    if os.path.abspath(source) != os.path.abspath(out):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        shutil.copyfile(source, f"{out}.partial")
        os.replace(f"{out}.partial", out)
    return {**record, "weights": out, "reused_from": source}, None


# ---------------------------------------------------------------------------- zero-shot evaluation
def zero_shot_accuracy(teacher, data_root, split="val", classes=SHAPES_CLASSES, novel=SHAPES_NOVEL):
    """Top-1 zero-shot accuracy of ground-truth boxes of ``split``, per class: plain crops and object-aware.

    Returns ``{'classes', 'novel', 'counts', 'chance', 'plain': {name: acc}, 'object_aware': {...},
    'mean': {'plain': {'all', 'base', 'novel'}, 'object_aware': {...}}}`` (accuracies in [0, 1]).
    """
    classes = list(classes)
    text = text_embeddings(teacher, classes)
    ann_file = os.path.join(data_root, "annotations", f"instances_{split}.json")
    with open(ann_file) as f:
        coco = json.load(f)
    label_of = {c["id"]: classes.index(c["name"]) for c in coco["categories"]}
    per_image = {}
    for a in coco["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a)
    labels, predictions = [], {"plain": [], "object_aware": []}
    for image_info in coco["images"]:
        anns = per_image.get(image_info["id"], [])
        if not anns:
            continue
        image = read_rgb(os.path.join(data_root, split, image_info["file_name"]))
        xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32)
        boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
        labels += [label_of[a["category_id"]] for a in anns]
        for kind, encode in (("plain", teacher.encode_crops), ("object_aware", teacher.encode_objects)):
            predictions[kind].append((encode(image, boxes).float().cpu() @ text.T.cpu()).argmax(dim=1))
    labels = torch.tensor(labels, dtype=torch.long)
    result = dict(classes=classes, novel=[c for c in classes if c in novel], chance=1.0 / len(classes),
                  counts={name: int((labels == i).sum()) for i, name in enumerate(classes)}, mean={})
    for kind, chunks in predictions.items():
        correct = torch.cat(chunks) == labels if chunks else torch.zeros(0, dtype=torch.bool)
        accuracy = {name: (correct[labels == i].float().mean().item() if (labels == i).any() else float("nan"))
                    for i, name in enumerate(classes)}
        result[kind] = accuracy
        groups = {"all": classes, "base": [c for c in classes if c not in novel], "novel": result["novel"]}
        result["mean"][kind] = {group: _nanmean([accuracy[c] for c in names]) for group, names in groups.items()}
    return result


def _nanmean(values):
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else float("nan")


def zero_shot_table(result):
    """A :func:`zero_shot_accuracy` result as a markdown table (accuracies in %)."""
    def pct(value):
        return "n/a" if math.isnan(value) else f"{100 * value:.1f}"

    lines = ["| class | split | boxes | plain crops | object-aware |", "|---|---|---:|---:|---:|"]
    for name in result["classes"]:
        split = "**novel**" if name in result["novel"] else "base"
        lines.append(f"| {name} | {split} | {result['counts'][name]} | {pct(result['plain'][name])} | "
                     f"{pct(result['object_aware'][name])} |")
    for group in ("base", "novel", "all"):
        lines.append(f"| *mean {group}* | | | {pct(result['mean']['plain'][group])} | "
                     f"{pct(result['mean']['object_aware'][group])} |")
    chance = pct(result["chance"])
    lines.append(f"| *chance* | | | {chance} | {chance} |")
    return "\n".join(lines)


def zero_shot_eval(teacher_config, weights, data_root, device="cpu"):
    """:func:`zero_shot_accuracy` on the val split of the teacher of ``teacher_config`` with ``weights``.

    Returns ``{'zero_shot': result, 'zero_shot_table': markdown, 'zero_shot_seconds': s}``.
    """
    start = time.time()
    teacher = ObjectAwareCLIP.from_config(teacher_config, pretrained=weights).to(device)
    result = zero_shot_accuracy(teacher, data_root, "val")
    seconds = round(time.time() - start, 1)
    return dict(zero_shot=result, zero_shot_table=zero_shot_table(result), zero_shot_seconds=seconds)

"""OADP's CLIP teacher: global, block and object-aware (OAKE) embeddings over an open_clip ViT.

Every embedding is L2-normalised. Images enter as ``uint8`` tensors ``(3, H, W)`` in RGB and
boxes as ``(N, 4)`` float ``x1, y1, x2, y2`` in that image's pixels. Each view is a box cropped
and resized to the model's input size (``roi_align``, area-averaged when shrinking), so blocks,
the whole-image block and object crops share one batched path.

Object-aware knowledge extraction (OAKE, Wang et al. CVPR 2023):

1. adaptive expansion: a square of side ``sqrt(expand_ratio * area)`` centred on the proposal,
   clamped to ``[max(w, h), min(W, H)]`` and shifted inside the image;
2. the crop's patch embedding runs at half the patch stride (twice the tokens per side), with
   interpolated positional embeddings;
3. an extra *object token* starts as a copy of the class token; in every block it alone attends
   to the patch tokens and itself, with ``mask_bias`` added to the logits of tokens outside the
   proposal. The other tokens never see it, so the ordinary pass is unchanged. Its output goes
   through ``ln_post`` and ``proj`` like the class token.
"""
import math
import os

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from PIL import Image
from torch import nn
from torchvision.ops import roi_align

__all__ = [
    "ObjectAwareCLIP",
    "TEACHER_FIELDS",
    "block_boxes",
    "clip_teacher_spec",
    "expand_boxes",
    "object_token_masks",
    "read_rgb",
    "sliding_positions",
]

# What the teacher computes per image (the feature cache stores exactly these).
TEACHER_FIELDS = ("global", "blocks", "block_boxes", "objects", "object_boxes", "objectness")


def read_rgb(path):
    """An image file as a ``(3, H, W)`` uint8 RGB tensor."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def sliding_positions(length, window, max_stride):
    """Start offsets of windows of ``window`` spread evenly over ``length`` with steps <= ``max_stride``."""
    if length < window:
        return []
    steps = math.ceil((length - window) / max_stride)
    if steps == 0:
        return [0]
    return [round(i * (length - window) / steps) for i in range(steps + 1)]


def block_boxes(height, width, block_size=224, max_stride=112, rescale=1.5):
    """Block boxes ``(B, 4)`` of an image: its centre square, then sliding windows per scale.

    Block 0 is the centred square of side ``min(H, W)`` (what CLIP's resize + centre-crop sees;
    the reference code records its box as ``((W - H) / 2, 0, H, H)``, wrong whenever W != H).
    Then the image is shrunk by ``rescale`` repeatedly while both sides stay >= ``block_size``;
    at each scale, ``block_size`` windows slide with stride <= ``max_stride``. A 640x480 image
    gives 1 + 20 + 6 = 27 blocks.
    """
    side = min(height, width)
    boxes = [((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)]
    h, w = height, width
    while min(h, w) >= block_size:
        sx, sy = width / w, height / h
        for y in sliding_positions(h, block_size, max_stride):
            for x in sliding_positions(w, block_size, max_stride):
                boxes.append((x * sx, y * sy, (x + block_size) * sx, (y + block_size) * sy))
        h, w = int(h / rescale), int(w / rescale)
    return torch.tensor(boxes, dtype=torch.float32)


def expand_boxes(boxes, height, width, ratio=8.0):
    """OAKE's adaptive expansion: squares ``(N, 4)`` around ``boxes`` ``(N, 4)``, inside the image.

    Side ``sqrt(ratio * w * h)``, at least ``max(w, h)`` so the object fits and at most
    ``min(H, W)`` so the square fits (when both cannot hold, the image wins).
    """
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
    side = (ratio * wh[:, 0] * wh[:, 1]).sqrt()
    side = torch.maximum(side, wh.max(dim=1).values).clamp(max=min(height, width))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    corner = centre - side[:, None] / 2
    limit = torch.tensor([width, height], dtype=boxes.dtype, device=boxes.device) - side[:, None]
    corner = torch.minimum(corner.clamp(min=0), limit)
    return torch.cat([corner, corner + side[:, None]], dim=1)


def object_token_masks(boxes, crops, grid):
    """Which tokens of each crop's ``grid x grid`` lie outside its box: ``(N, grid * grid)`` bool.

    A token is inside when its centre, mapped back into the crop's image region, lies in the box
    (edges included). A box smaller than a token still gets its nearest token.
    """
    def inside(low, high, start, size):  # (N,) each -> (N, grid)
        centres = start[:, None] + (torch.arange(grid, device=boxes.device) + 0.5) * (size[:, None] / grid)
        hit = (centres >= low[:, None]) & (centres <= high[:, None])
        nearest = ((low + high) / 2 - start) / size * grid
        nearest = nearest.floor().long().clamp(0, grid - 1)
        return hit | (F.one_hot(nearest, grid).bool() & ~hit.any(dim=1, keepdim=True))

    sizes = crops[:, 2:] - crops[:, :2]
    in_x = inside(boxes[:, 0], boxes[:, 2], crops[:, 0], sizes[:, 0])
    in_y = inside(boxes[:, 1], boxes[:, 3], crops[:, 1], sizes[:, 1])
    return ~(in_y[:, :, None] & in_x[:, None, :]).flatten(1)


def clip_teacher_spec(config, cfg_options=None):
    """The ``clip_teacher`` dict (``ObjectAwareCLIP`` arguments) of a config file path (with ``--cfg-options``
    overrides ``cfg_options``), a Config, or itself."""
    if isinstance(config, str):
        if not os.path.isfile(config):
            raise FileNotFoundError(f"teacher config not found: {config} — run from the repository root; teacher "
                                    "configs live under configs/ (e.g. configs/demo/clip_teacher_shapes.py)")
        from densekd.core.config import load_config

        config = load_config(config, cfg_options, required=("clip_teacher",))
    return dict(config.get("clip_teacher", config))


class ObjectAwareCLIP(nn.Module):
    """A frozen open_clip ViT that embeds whole images, blocks and objects (OAKE), and text."""

    def __init__(
        self,
        model_name="ViT-B-32",
        pretrained=None,
        model_config_file=None,
        mask_bias=-100.0,
        expand_ratio=8.0,
        min_proposal_size=4.0,
        object_stride_divisor=2,
        block_rescale=1.5,
        batch_size=512,
    ):
        super().__init__()
        if model_config_file is not None:
            if not os.path.isfile(model_config_file):
                raise FileNotFoundError(f"open_clip model config not found: {model_config_file}")
            open_clip.add_model_config(model_config_file)
        if ":" not in model_name and model_name not in open_clip.list_models():
            raise KeyError(f"unknown open_clip model {model_name!r}: pick one of open_clip.list_models() "
                           "or give `model_config_file` (an open_clip model-config JSON)")
        looks_like_file = pretrained and (os.sep in pretrained or os.path.splitext(pretrained)[1])
        if looks_like_file and not os.path.isfile(pretrained):
            raise FileNotFoundError(
                f"CLIP weights not found: {pretrained} — give an existing local weights file "
                f"(.safetensors/.pt/.bin) or an open_clip tag ({open_clip.list_pretrained_tags_by_model(model_name)})")
        self.clip = open_clip.create_model(model_name, pretrained=pretrained)
        self.clip.requires_grad_(False).eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        visual = self.clip.visual
        self._check_supported(visual)
        self.image_size = visual.image_size[0]
        self.patch_size = visual.patch_size[0]
        self.mask_bias = float(mask_bias)
        self.expand_ratio = float(expand_ratio)
        self.min_proposal_size = float(min_proposal_size)
        self.object_stride = self.patch_size // object_stride_divisor
        self.block_rescale = float(block_rescale)
        self.batch_size = int(batch_size)
        preprocess = getattr(visual, "preprocess_cfg", {}) or {}
        mean = preprocess.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = preprocess.get("std", open_clip.OPENAI_DATASET_STD)
        self.register_buffer("pixel_mean", torch.tensor(mean).view(3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(3, 1, 1) * 255, persistent=False)

    @classmethod
    def from_config(cls, config, **overrides):
        """Build from a config's ``clip_teacher`` dict (see :func:`clip_teacher_spec`); ``overrides`` win."""
        return cls(**{**clip_teacher_spec(config), **overrides})

    @staticmethod
    def _check_supported(visual):
        problems = []
        if not isinstance(visual, VisionTransformer):
            problems.append(f"vision tower is {type(visual).__name__}, not a ViT")
        elif visual.attn_pool is not None or visual.pool_type != "tok":
            problems.append("pooling must be the class token (no attentional pooling)")
        elif not all(type(b) is ResidualAttentionBlock for b in visual.transformer.resblocks):
            problems.append("blocks must be open_clip's standard ResidualAttentionBlock")
        if problems:
            raise ValueError(f"ObjectAwareCLIP needs a plain CLIP ViT: {'; '.join(problems)}")

    def train(self, mode=True):
        """The teacher stays in eval mode."""
        return super().train(False)

    @property
    def visual(self):
        return self.clip.visual

    @property
    def embed_dim(self):
        return self.visual.output_dim

    @property
    def device(self):
        return self.pixel_mean.device

    # ---------------------------------------------------------------- tokens and transformer
    def _positional_embedding(self, grid_hw):
        """Positional embeddings ``(1 + gh * gw, D)``, bicubically interpolated off the native grid."""
        pos = self.visual.positional_embedding
        if tuple(grid_hw) == tuple(self.visual.grid_size):
            return pos
        gh0, gw0 = self.visual.grid_size
        grid = pos[1:].reshape(1, gh0, gw0, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid.float(), size=tuple(grid_hw), mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], grid.to(pos.dtype).flatten(2)[0].T], dim=0)

    def _tokens(self, pixels, stride):
        """Class + patch tokens ``(B, 1 + gh * gw, C)`` after ``ln_pre``, for patch stride ``stride``."""
        conv = self.visual.conv1
        padding = 0 if stride == self.patch_size else (self.patch_size - 1) // 2
        x = F.conv2d(pixels.to(conv.weight.dtype), conv.weight, conv.bias, stride=stride, padding=padding)
        grid_hw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        cls = self.visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self._positional_embedding(grid_hw).to(x.dtype)
        return self.visual.ln_pre(x)

    def _head(self, token):
        """``ln_post`` + projection of one token per image: ``(B, C)`` -> normalised ``(B, D)``."""
        x = self.visual.ln_post(token)
        if self.visual.proj is not None:
            x = x @ self.visual.proj
        return F.normalize(x.float(), dim=-1)

    def _class_embeddings(self, pixels, stride):
        """Standard CLIP image embeddings ``(B, D)`` of normalised ``pixels`` ``(B, 3, H, W)``."""
        x = self.visual.transformer(self._tokens(pixels, stride))
        return self._head(x[:, 0])

    def _object_embeddings(self, pixels, outside):
        """Object-token embeddings ``(B, D)``; ``outside`` ``(B, T)`` marks patch tokens off the object."""
        x = self._tokens(pixels, self.object_stride)
        x = torch.cat([x, x[:, :1]], dim=1)  # the object token starts as a copy of the class token
        bias = self._object_attention_bias(outside, x.dtype)
        for block in self.visual.transformer.resblocks:
            x = _block_with_bias(block, x, bias)
        return self._head(x[:, -1])

    def _object_attention_bias(self, outside, dtype):
        """Additive attention bias ``(B, 1, L, L)`` over tokens [class, patches..., object]."""
        batch, patches = outside.shape
        length = patches + 2
        bias = torch.zeros(batch, 1, length, length, dtype=dtype, device=outside.device)
        bias[:, :, :-1, -1] = float("-inf")  # nobody else sees the object token
        bias[:, 0, -1, 0] = float("-inf")  # the object token does not see the class token
        bias[:, 0, -1, 1:-1] = outside.to(dtype) * self.mask_bias
        return bias

    # ---------------------------------------------------------------- image views
    def _normalise(self, image):
        return (image.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std

    def _crops(self, image, boxes):
        """``boxes`` ``(N, 4)`` of ``image`` cropped and resized to ``(N, 3, S, S)``, normalised."""
        pixels = self._normalise(image)[None]
        boxes = boxes.to(self.device, torch.float32)
        return roi_align(pixels, [boxes], output_size=self.image_size, spatial_scale=1.0,
                         sampling_ratio=-1, aligned=True)

    def _batched(self, fn, boxes, *extra):
        """Run ``fn(boxes_chunk, *extra_chunks)`` over chunks of ``batch_size`` and concatenate."""
        if len(boxes) == 0:
            return torch.zeros(0, self.embed_dim, device=self.device)
        chunks = [fn(*parts) for parts in zip(boxes.split(self.batch_size), *(e.split(self.batch_size) for e in extra))]
        return torch.cat(chunks)

    @torch.no_grad()
    def encode_global(self, image):
        """The whole image at native resolution: ``(D,)``."""
        return self._class_embeddings(self._normalise(image)[None], self.patch_size)[0]

    @torch.no_grad()
    def encode_crops(self, image, boxes, stride=None):
        """Plain CLIP embeddings ``(N, D)`` of ``boxes`` ``(N, 4)`` cropped and resized (no mask)."""
        stride = stride or self.patch_size
        return self._batched(lambda b: self._class_embeddings(self._crops(image, b), stride), boxes)

    def block_boxes(self, image):
        """Block boxes ``(B, 4)`` of ``image`` at this model's input size (see :func:`block_boxes`)."""
        height, width = image.shape[-2:]
        return block_boxes(height, width, self.image_size, self.image_size // 2, self.block_rescale)

    @torch.no_grad()
    def encode_blocks(self, image):
        """Block embeddings ``(B, D)`` and their boxes ``(B, 4)``."""
        boxes = self.block_boxes(image)
        return self.encode_crops(image, boxes), boxes

    def object_crops(self, image, boxes):
        """Expanded squares ``(N, 4)`` and token masks ``(N, T)`` (True = outside) for ``boxes``."""
        height, width = image.shape[-2:]
        boxes = boxes.to(self.device, torch.float32)
        squares = expand_boxes(boxes, height, width, self.expand_ratio)
        grid = (self.image_size + 2 * ((self.patch_size - 1) // 2) - self.patch_size) // self.object_stride + 1
        return squares, object_token_masks(boxes, squares, grid)

    @torch.no_grad()
    def encode_objects(self, image, boxes):
        """Object-aware embeddings ``(N, D)`` of proposals ``boxes`` ``(N, 4)`` (OAKE)."""
        squares, outside = self.object_crops(image, boxes)
        return self._batched(lambda s, m: self._object_embeddings(self._crops(image, s), m), squares, outside)

    def valid_proposals(self, image, boxes):
        """Proposals clipped to the image; keep mask ``(N,)`` of those at least ``min_proposal_size`` a side."""
        height, width = image.shape[-2:]
        boxes = boxes.float().clone()
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        wh = boxes[:, 2:] - boxes[:, :2]
        return boxes, (wh >= self.min_proposal_size).all(dim=1)

    @torch.no_grad()
    def embed_image(self, image, proposals, objectness=None):
        """All teacher targets of one image, as a dict over :data:`TEACHER_FIELDS`.

        ``proposals`` ``(N, 4)`` are clipped to the image and those under ``min_proposal_size`` a
        side dropped; ``objectness`` ``(N,)`` (ones if not given) follows them.
        """
        if objectness is None:
            objectness = torch.ones(len(proposals))
        boxes, keep = self.valid_proposals(image, proposals)
        boxes, objectness = boxes[keep], objectness[keep.to(objectness.device)]
        blocks, blocks_boxes = self.encode_blocks(image)
        return {
            "global": self.encode_global(image),
            "blocks": blocks,
            "block_boxes": blocks_boxes,
            "objects": self.encode_objects(image, boxes),
            "object_boxes": boxes.cpu(),
            "objectness": objectness.float().cpu(),
        }

    # ---------------------------------------------------------------- text
    @torch.no_grad()
    def encode_text(self, texts):
        """L2-normalised text embeddings ``(N, D)`` of ``texts``."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.clip.encode_text(tokens).float(), dim=-1)


def _block_with_bias(block, x, bias):
    """One open_clip ``ResidualAttentionBlock`` on ``x`` ``(B, L, C)`` with an additive bias ``(B, 1, L, L)``."""
    attn = block.attn
    batch, length, width = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(batch, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    out = attn.out_proj(out.transpose(1, 2).reshape(batch, length, width))
    x = x + block.ls_1(out)
    return x + block.ls_2(block.mlp(block.ln_2(x)))

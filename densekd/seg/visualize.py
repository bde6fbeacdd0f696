"""Pictures of the segmentation wing: colour-coded label maps, per-image mIoU, and ACAM's learned masks.

Label maps (``tools/visualize.py --mode seg``)::

    classes, palette = seg_meta(cfg)                      # Cityscapes' names and colours for Cityscapes configs
    colorize_label_map(labels, palette)                   # (H, W) ids -> (H, W, 3) uint8; 255 / unknown -> black
    gt_path_for_image('.../leftImg8bit/val/x/x_000000_000019_leftImg8bit.png')
        # -> '.../gtFine/val/x/x_000000_000019_gtFine_labelTrainIds.png'
    image_miou(pred, gt, num_classes)                     # one image's mIoU (a fraction), as SegmentationMetric
    render_seg_grid([(name, config, ckpt), ...], images)  # image | ground truth | each model, + a legend

ACAM masks (``tools/visualize.py --mode masks``)::

    module = load_distill_module(config, checkpoint)      # student + teacher + the trained ACAM distiller
    masks = extract_acam_masks(module, image_path)        # spatial (M, h, w), channel (M, C), teacher (C, h, w)
    render_acam_masks(module, images)                     # image, M heat overlays, the M x C channel matrix

Everything draws with PIL's default font; tiles are ``scale`` times the image's size (nearest for
label maps, bilinear for masks), each under a title strip.
"""
import colorsys
import copy
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from densekd.core.config import dataset_meta, load_config
from densekd.core.module import DistillModule, load_state_dict_file, load_student_for_inference
from densekd.core.registry import use_scope
from densekd.data.cityscapes import colorize_label_map
from densekd.seg.metrics import confusion_to_metrics, image_confusion
from ..core.errors import InvalidValue, OutOfRange, UnknownKey

__all__ = [
    "IGNORE_INDEX", "IGNORE_COLOUR", "seg_meta", "colorize_label_map", "gt_path_for_image", "load_label_map",
    "image_miou", "titled_tile", "legend_strip", "stack_rows", "inference_pipeline",
    "load_segmentor", "predict_label_map", "render_seg_grid", "load_distill_module", "prepare_inputs",
    "extract_acam_masks", "mask_class_hints", "heat_colours", "mask_overlay", "render_mask_overlays",
    "render_channel_matrix", "render_acam_masks",
]

IGNORE_INDEX = 255
IGNORE_COLOUR = (0, 0, 0)
LINE_HEIGHT = 12  # one line of PIL's default font
BACKGROUND = (255, 255, 255)
FLAT_MASK = 1e-3  # a spatial mask whose values span less than this has no class hint
_IMAGE_DIR, _GT_DIR = "leftImg8bit", "gtFine"
_IMAGE_SUFFIX, _GT_SUFFIX = "_leftImg8bit.png", "_gtFine_labelTrainIds.png"


# --- classes and colours ------------------------------------------------------------------------
def _hue_palette(num_classes):
    """A colour of its own for each of ``num_classes`` labels (hues around the wheel)."""
    colours = []
    for k in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb(k / max(num_classes, 1), 0.8, 0.95)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def seg_meta(cfg=None, num_classes=None):
    """``(classes, palette)`` for a segmentation config: Cityscapes' own names and colours
    (``densekd.data.cityscapes``) when the config's classes are Cityscapes' 19 (or it names none),
    else the config's ``dataset_meta`` palette, else one hue per class."""
    from densekd.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE

    meta = dataset_meta(cfg) if cfg is not None else {}
    classes = tuple(meta.get("classes") or ())
    if not classes and (num_classes is None or num_classes == len(CITYSCAPES_CLASSES)):
        classes = CITYSCAPES_CLASSES
    if classes == tuple(CITYSCAPES_CLASSES):
        return list(CITYSCAPES_CLASSES), [tuple(c) for c in CITYSCAPES_PALETTE]
    if not classes:
        classes = tuple(str(k) for k in range(num_classes or 0))
    palette = meta.get("palette")
    if not palette or len(palette) < len(classes):
        palette = _hue_palette(len(classes))
    return list(classes), [tuple(int(v) for v in c) for c in palette[:len(classes)]]


# --- ground truth and per-image scores ------------------------------------------------------------
def gt_path_for_image(image_path):
    """The ``*_gtFine_labelTrainIds.png`` of a Cityscapes-layout image: ``leftImg8bit/`` -> ``gtFine/``
    (the last such directory in the path) and ``_leftImg8bit.png`` -> ``_gtFine_labelTrainIds.png``.
    A path outside that layout raises a ValueError."""
    path = os.path.normpath(image_path)
    parts = path.split(os.sep)
    if not parts[-1].endswith(_IMAGE_SUFFIX) or _IMAGE_DIR not in parts[:-1]:
        raise InvalidValue(f"{image_path} is not a Cityscapes-layout image "
                           f"(.../{_IMAGE_DIR}/<split>/<city>/<name>{_IMAGE_SUFFIX}): its ground truth cannot be found")
    at = len(parts) - 2 - parts[-2::-1].index(_IMAGE_DIR)  # the last leftImg8bit directory
    parts[at] = _GT_DIR
    parts[-1] = parts[-1][: -len(_IMAGE_SUFFIX)] + _GT_SUFFIX
    return os.sep.join(parts)


def load_label_map(path):
    """A label PNG (trainIds, mode L or P) as an (H, W) uint8 array."""
    with Image.open(path) as image:
        if image.mode not in ("L", "P", "I", "I;16"):
            raise InvalidValue(f"{path} is a {image.mode} image, not a single-channel label map")
        return np.asarray(image).astype(np.uint8) if image.mode in ("L", "P") else np.asarray(image)


def image_miou(pred, gt, num_classes, ignore_index=IGNORE_INDEX):
    """One image's mIoU as a fraction (``SegmentationMetric``'s rule on this image alone: a class absent
    from both maps is left out, one predicted but absent from the ground truth counts as IoU 0);
    NaN when the ground truth has no labelled pixel."""
    confusion = image_confusion(np.asarray(pred), np.asarray(gt), num_classes, ignore_index)
    _, iou, _ = confusion_to_metrics(confusion.numpy(), num_classes)
    iou = iou[np.isfinite(iou)]
    return float(iou.mean()) if iou.size else float("nan")


# --- drawing helpers -------------------------------------------------------------------------------
def _as_image(image):
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))


def titled_tile(image, lines, scale=1, resample=Image.NEAREST):
    """``image`` (PIL or (H, W, 3) uint8) enlarged ``scale`` times under a white strip with the text
    ``lines`` (a string or a list: one line each, clipped to the tile's width)."""
    image = _as_image(image).convert("RGB")
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), resample)
    lines = [lines] if isinstance(lines, str) else list(lines)
    top = LINE_HEIGHT * len(lines) + 2
    tile = Image.new("RGB", (image.width, image.height + top), BACKGROUND)
    tile.paste(image, (0, top))
    draw = ImageDraw.Draw(tile)
    for i, line in enumerate(lines):
        draw.text((2, 1 + LINE_HEIGHT * i), line, fill="black")
    return tile


def stack_rows(rows, gap=2, background=BACKGROUND):
    """Tiles into one image: ``rows`` is a list of rows, each a list of PIL images placed left to right;
    rows go top to bottom, every row as tall as its tallest tile, ``gap`` pixels apart."""
    rows = [row for row in rows if row]
    width = max(sum(t.width for t in row) + gap * (len(row) - 1) for row in rows)
    height = sum(max(t.height for t in row) for row in rows) + gap * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), background)
    y = 0
    for row in rows:
        x = 0
        for tile in row:
            canvas.paste(tile, (x, y))
            x += tile.width + gap
        y += max(t.height for t in row) + gap
    return canvas


def legend_strip(classes, palette, width, swatch=10, ignore_label="ignore", ignore_colour=IGNORE_COLOUR):
    """A white strip ``width`` pixels wide: a colour swatch and the name of each class (and of the
    ignore label, black, unless ``ignore_label`` is None), wrapped onto as many lines as needed."""
    entries = list(zip(classes, palette)) + ([(ignore_label, ignore_colour)] if ignore_label else [])
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    placed, x, y, line = [], 4, 0, LINE_HEIGHT + 4
    for name, colour in entries:
        item = swatch + 3 + int(np.ceil(measure.textlength(str(name)))) + 10
        if x > 4 and x + item > width:
            x, y = 4, y + line
        placed.append((x, y, name, colour))
        x += item
    strip = Image.new("RGB", (width, y + line + 2), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for x, y, name, colour in placed:
        top = y + 3 + (LINE_HEIGHT - swatch) // 2
        draw.rectangle([x, top, x + swatch - 1, top + swatch - 1], fill=tuple(colour), outline=(90, 90, 90))
        draw.text((x + swatch + 3, y + 3), str(name), fill="black")
    return strip


# --- segmentation predictions ----------------------------------------------------------------------
def inference_pipeline(cfg):
    """The config's test pipeline (the test dataloader's, else ``cfg.test_pipeline``) without its
    ground-truth loading step (``LoadAnnotations``), as mmseg's own inference strips it."""
    pipeline = (cfg.get("test_dataloader") or {}).get("dataset", {}).get("pipeline") or cfg.get("test_pipeline")
    if not pipeline:
        raise UnknownKey("the config has neither test_dataloader.dataset.pipeline nor test_pipeline: "
                         "cannot tell how to load an image for inference")
    return [copy.deepcopy(t) for t in pipeline if "LoadAnnotations" not in str(t.get("type", ""))]


def load_segmentor(config, checkpoint, cfg_options=None):
    """The student of ``config`` (an mmseg segmentor) with the weights of ``checkpoint`` (a densekd
    training checkpoint or an exported student), in eval mode and ready for ``mmseg.apis.inference_model``:
    ``model.cfg.test_pipeline`` is the config's inference pipeline, ``model.dataset_meta`` its classes
    and palette."""
    model = load_student_for_inference(config, checkpoint, cfg_options)
    model.cfg.test_pipeline = inference_pipeline(model.cfg)  # inference_model reads it from here
    num_classes = getattr(getattr(model, "decode_head", None), "num_classes", None)
    classes, palette = seg_meta(model.cfg, num_classes)
    model.dataset_meta = dict(classes=classes, palette=palette)
    return model


@torch.no_grad()
def predict_label_map(model, image_path):
    """``model``'s (from :func:`load_segmentor`) label map of one image, (H, W) int64 at the image's size."""
    from mmseg.apis import inference_model

    use_scope(model.cfg)
    result = inference_model(model, image_path)
    return result.pred_sem_seg.data.squeeze(0).cpu().numpy().astype(np.int64)


def _read_rgb(path):
    with Image.open(path) as image:
        return image.convert("RGB")


def render_seg_grid(models, images, scale=2, cfg_options=None, legend=True):
    """``models``: ``[(name, config, checkpoint)]`` -> one PIL image with a row per image and the columns
    image | ground truth | each model's prediction, every label map in the config's palette (Cityscapes'
    for Cityscapes), each model tile titled with its name and the image's mIoU against the ground truth
    (``*_gtFine_labelTrainIds.png``, see :func:`gt_path_for_image`; a missing one gives a grey tile and
    no mIoU), and the class legend at the bottom."""
    if not models:
        raise InvalidValue("give at least one model: [(name, config, checkpoint)]")
    predictions, meta = [], None
    for name, config, checkpoint in models:
        model = load_segmentor(config, checkpoint, cfg_options)
        if meta is None:
            meta = model.dataset_meta
        predictions.append((name, [predict_label_map(model, path) for path in images],
                            len(model.dataset_meta["classes"])))
        del model
    classes, palette = meta["classes"], meta["palette"]
    rows = []
    for i, path in enumerate(images):
        image = _read_rgb(path)
        try:
            gt_path = gt_path_for_image(path)
        except ValueError:
            gt_path = None
        gt = load_label_map(gt_path) if gt_path and os.path.isfile(gt_path) else None
        row = [titled_tile(image, [os.path.basename(path), f"{image.width}x{image.height}"], scale)]
        if gt is None:
            row.append(titled_tile(Image.new("RGB", image.size, (128, 128, 128)),
                                   ["ground truth", "(not found)"], scale))
        else:
            row.append(titled_tile(colorize_label_map(gt, palette), ["ground truth", os.path.basename(gt_path)], scale))
        for name, labels, num_classes in predictions:
            pred = labels[i]
            if gt is not None and pred.shape != gt.shape:
                raise InvalidValue(f"{name}'s prediction for {path} is {pred.shape}, its ground truth {gt.shape}")
            score = image_miou(pred, gt, num_classes) if gt is not None else float("nan")
            second = f"mIoU {100 * score:.1f}" if np.isfinite(score) else "mIoU n/a"
            row.append(titled_tile(colorize_label_map(pred, palette), [name, second], scale))
        rows.append(row)
    grid = stack_rows(rows)
    if legend:
        grid = stack_rows([[grid], [legend_strip(classes, palette, grid.width)]], gap=0)
    return grid


# --- ACAM masks --------------------------------------------------------------------------------------
def load_distill_module(config, checkpoint, cfg_options=None):
    """A :class:`~densekd.core.module.DistillModule` of a distillation ``config`` (student, the teacher
    rebuilt from ``cfg.teacher``, the distiller materialised) with the student and distiller weights of
    the training ``checkpoint``, in eval mode. Fails when the checkpoint lacks any distiller or student
    weight (e.g. a plain student run) or holds weights the module does not have."""
    cfg = load_config(config, cfg_options)
    if cfg.get("teacher") is None or cfg.get("distiller") is None:
        raise InvalidValue(f"{config} has no teacher / distiller: masks come from a distillation config "
                           "(e.g. configs/demo/deeplabv3_acam_streets.py)")
    module = DistillModule.from_config(cfg)
    state = load_state_dict_file(checkpoint, "checkpoint")
    own = module.state_dict()
    wanted = [k for k in own if k.startswith(("distiller.", "student."))]
    missing = [k for k in wanted if k not in state]
    if missing:
        distiller_missing = [k for k in missing if k.startswith("distiller.")]
        raise UnknownKey(f"{checkpoint} lacks {len(missing)} of the module's weights"
                         + (f", {len(distiller_missing)} of them the distiller's (e.g. {distiller_missing[0]}):"
                          " is it the training checkpoint of this distillation config?" if distiller_missing
                          else f" (e.g. {missing[0]})"))
    result = module.load_state_dict(state, strict=False)
    unexpected = list(result.unexpected_keys)
    if unexpected:
        raise UnknownKey(f"{checkpoint} holds weights this config's module lacks: {unexpected[:5]}")
    module.cfg = cfg
    return module.eval()


def prepare_inputs(model, cfg, image_path):
    """One image through ``cfg``'s inference pipeline and ``model``'s data preprocessor:
    ``(inputs (1, 3, H, W), data_sample)``; the sample's metainfo has ``ori_shape`` and ``img_shape``."""
    from mmengine.dataset import Compose

    use_scope(cfg)
    data = Compose(inference_pipeline(cfg))(dict(img_path=image_path))
    batch = model.data_preprocessor(dict(inputs=[data["inputs"]], data_samples=[data["data_samples"]]), False)
    return batch["inputs"], batch["data_samples"][0]


@torch.no_grad()
def extract_acam_masks(module, image_path, pair=0, level=0):
    """The ACAM masks of one image: teacher and student run on it (features recorded as in training),
    the distiller's pair ``pair`` aligns the student's map and fuses it with the teacher's, and its mask
    units give the masks. ``level`` picks an FPN level (0 for segmentation logits). Returns numpy arrays
    ``spatial`` (M, h, w) and ``channel`` (M, C) (whichever kinds the distiller learns), ``teacher``
    (C, h, w), the teacher's distilled map, all cropped to the image's part of the (padded) input, and
    the image's ``ori_shape`` (H, W)."""
    distiller = module.distiller
    if distiller is None or not hasattr(distiller, "level_masks"):
        raise InvalidValue(f"the module's distiller ({type(distiller).__name__}) has no learned masks: "
                           "masks mode needs an ACAMDistiller config")
    if not 0 <= pair < len(distiller.pairs):
        raise OutOfRange(f"pair {pair} out of range: the distiller has {len(distiller.pairs)} feature pairs")
    student = module.student
    inputs, sample = prepare_inputs(student, module.cfg, image_path)
    module.eval()
    with module.student_recorder:
        getattr(student, module.student_forward)(inputs)
    with module.teacher_recorder:
        module._run_teacher(inputs)
    s_levels = distiller._levels(module.student_recorder.records[distiller.student_features[pair]])
    t_levels = distiller._levels(module.teacher_recorder.records[distiller.teacher_features[pair]])
    if not 0 <= level < len(t_levels):
        raise OutOfRange(f"level {level} out of range: the feature has {len(t_levels)} levels")
    teacher = t_levels[level].float()
    aligned = distiller.align(distiller.pairs[pair], s_levels[level].float(), teacher)
    masks = distiller.level_masks(distiller.pairs[pair], teacher, aligned)

    # the maps cover the padded input; keep the image's part
    pad_h, pad_w = inputs.shape[-2:]
    img_h, img_w = sample.metainfo.get("img_shape", (pad_h, pad_w))[:2]
    h, w = teacher.shape[-2:]
    keep_h, keep_w = max(1, round(h * img_h / pad_h)), max(1, round(w * img_w / pad_w))
    out = {kind: (value[0, :, :keep_h, :keep_w] if kind == "spatial" else value[0]).cpu().numpy()
           for kind, value in masks.items()}
    out["teacher"] = teacher[0, :, :keep_h, :keep_w].cpu().numpy()
    out["ori_shape"] = tuple(sample.metainfo.get("ori_shape", (img_h, img_w))[:2])
    return out


def mask_class_hints(spatial, teacher, classes=None):
    """For each spatial mask (M, h, w), the teacher channel (C, h, w) it correlates with most (Pearson
    over positions): ``[(channel, correlation)]``, with the channel as ``classes[channel]`` when
    ``classes`` names the C channels (segmentation logits). Flat maps correlate 0."""
    m = spatial.reshape(spatial.shape[0], -1).astype(np.float64)
    t = teacher.reshape(teacher.shape[0], -1).astype(np.float64)
    m, t = m - m.mean(1, keepdims=True), t - t.mean(1, keepdims=True)
    norm = np.linalg.norm(m, axis=1)[:, None] * np.linalg.norm(t, axis=1)[None, :]
    corr = np.divide(m @ t.T, norm, out=np.zeros((m.shape[0], t.shape[0])), where=norm > 0)
    best = corr.argmax(1)
    named = classes is not None and len(classes) == teacher.shape[0]
    return [(classes[c] if named else int(c), float(corr[k, c])) for k, c in enumerate(best)]


# (position, RGB) anchors of a dark-to-bright heat colour map (close to matplotlib's 'inferno')
_HEAT_ANCHORS = np.array([
    [0.00, 0, 0, 4], [0.15, 31, 12, 72], [0.30, 85, 15, 109], [0.45, 136, 34, 106],
    [0.60, 186, 54, 85], [0.75, 227, 89, 51], [0.88, 249, 140, 10], [1.00, 252, 255, 164]], dtype=np.float64)


def heat_colours(values):
    """Values in [0, 1] (any shape) -> RGB uint8 (shape + (3,)) on a dark-to-bright heat scale."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    rgb = [np.interp(v, _HEAT_ANCHORS[:, 0], _HEAT_ANCHORS[:, i]) for i in (1, 2, 3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def mask_overlay(image, mask, alpha=0.65, stretch=False):
    """A (h, w) mask in [0, 1] resized (bilinear) to ``image`` (PIL) and drawn over a dimmed grey copy of
    it as heat colours; ``stretch`` maps the mask's own min..max to the full scale (unless it is flat)."""
    mask = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
    mask = F.interpolate(mask, size=(image.height, image.width), mode="bilinear", align_corners=False)[0, 0].numpy()
    if stretch:  # a flat mask (a span under FLAT_MASK) keeps its values: stretching would show noise
        low, high = float(mask.min()), float(mask.max())
        mask = (mask - low) / (high - low) if high - low >= FLAT_MASK else mask
    grey = np.asarray(image.convert("L"), dtype=np.float64)[..., None]
    blended = (1 - alpha) * grey + alpha * heat_colours(mask)
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8))


def render_mask_overlays(image, spatial, titles=None, scale=2, per_row=5, alpha=0.65, stretch=False):
    """The image, then each of the M spatial masks as a heat overlay (``titles[k]``: a string or lines;
    default ``'mask k'`` and its value range), ``per_row`` tiles a row; one PIL image."""
    image = image.convert("RGB")
    big = image.resize((image.width * scale, image.height * scale), Image.BILINEAR)
    tiles = [titled_tile(big, ["image", f"{image.width}x{image.height}"])]
    for k, mask in enumerate(spatial):
        lines = titles[k] if titles is not None else [f"mask {k}", f"{mask.min():.2f}..{mask.max():.2f}"]
        tiles.append(titled_tile(mask_overlay(big, mask, alpha, stretch), lines))
    return stack_rows([tiles[i:i + per_row] for i in range(0, len(tiles), per_row)])


def _vertical_text(text, height=None):
    """``text`` rotated to read bottom to top, black on white."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = int(np.ceil(measure.textlength(text))) + 2
    label = Image.new("RGB", (max(width, height or 0), LINE_HEIGHT), BACKGROUND)
    ImageDraw.Draw(label).text((1, 0), text, fill="black")
    return label.rotate(90, expand=True)


def render_channel_matrix(channel, channel_names=None, cell=12, title="channel masks (mask x channel)"):
    """The (M, C) channel masks as a heat matrix, a row per mask and a column per channel, values
    0..1 on the heat scale; columns named by ``channel_names`` (e.g. the classes) when it has C names,
    else by index; a colour bar for 0..1 at the bottom."""
    channel = np.asarray(channel, dtype=np.float64)
    m, c = channel.shape
    names = list(channel_names) if channel_names is not None and len(channel_names) == c else [str(i) for i in range(c)]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = int(np.ceil(max(measure.textlength(f"mask {k}") for k in range(m)))) + 6
    labels = [_vertical_text(name) for name in names]
    label_h = max(l.height for l in labels)
    top = LINE_HEIGHT + 4
    bar_h = LINE_HEIGHT + 8
    width = max(left + c * cell + 4, int(measure.textlength(title)) + 6)
    height = top + m * cell + 4 + label_h + 4 + bar_h
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), title, fill="black")
    heat = heat_colours(channel)
    for k in range(m):
        y = top + k * cell
        draw.text((2, y + (cell - LINE_HEIGHT) // 2), f"mask {k}", fill="black")
        for j in range(c):
            x = left + j * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=tuple(int(v) for v in heat[k, j]))
    for j, label in enumerate(labels):
        canvas.paste(label, (left + j * cell + (cell - label.width) // 2, top + m * cell + 4))
    y = top + m * cell + 4 + label_h + 4
    bar_w = min(120, width - left - 30)
    ramp = heat_colours(np.linspace(0, 1, max(bar_w, 2)))[None].repeat(6, axis=0)
    draw.text((left - 8, y), "0", fill="black")
    canvas.paste(Image.fromarray(ramp), (left, y + 3))
    draw.text((left + ramp.shape[1] + 3, y), "1", fill="black")
    return canvas


def render_acam_masks(module, images, scale=2, per_row=5, pair=0, level=0, stretch=False, title=None):
    """For each image: its block of spatial-mask overlays (each titled ``mask k``, with the teacher class
    it correlates with most when the distilled maps are the class logits) and its channel-mask matrix
    beside it; image blocks stacked top to bottom. One PIL image."""
    classes, _ = seg_meta(module.cfg, getattr(getattr(module.student, "decode_head", None), "num_classes", None))
    blocks = []
    for path in images:
        masks = extract_acam_masks(module, path, pair, level)
        image = _read_rgb(path)
        row = []
        if "spatial" in masks:
            spatial = masks["spatial"]
            hints = mask_class_hints(spatial, masks["teacher"], classes)
            titles = []
            for k, (mask, (name, corr)) in enumerate(zip(spatial, hints)):
                low, high = float(mask.min()), float(mask.max())
                if high - low < FLAT_MASK:  # no spatial structure: nothing to correlate
                    titles.append([f"mask {k}", f"{low:.2f}..{high:.2f} flat"])
                else:
                    titles.append([f"mask {k}: {name}" if isinstance(name, str) else f"mask {k}: ch {name}",
                                   f"{low:.2f}..{high:.2f} r={corr:+.2f}"])
            row.append(render_mask_overlays(image, spatial, titles, scale, per_row, stretch=stretch))
        if "channel" in masks:
            row.append(render_channel_matrix(masks["channel"], classes))
        block = stack_rows([row], gap=8)
        heading = Image.new("RGB", (block.width, LINE_HEIGHT + 4), BACKGROUND)
        ImageDraw.Draw(heading).text((2, 2), f"{title + ': ' if title else ''}{path}", fill="black")
        blocks.append(stack_rows([[heading], [block]], gap=0))
    return stack_rows([[b] for b in blocks], gap=10)

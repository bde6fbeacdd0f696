"""Detections drawn on their images: boxes with class and score, base / novel colours for open-vocabulary
detectors, a grid of models x images (``tools/visualize.py --mode det``)."""
import colorsys
import os

import numpy as np
import torch
from mmdet.apis import inference_detector
from PIL import Image, ImageDraw

from ..core.config import config_classes
from ..core.module import load_student_for_inference

TITLE_HEIGHT = 14
BASE_COLOUR = (30, 110, 255)  # blue
NOVEL_COLOUR = (255, 140, 0)  # orange


def load_detector(config, checkpoint):
    """The student of ``config`` with the weights of ``checkpoint``, ready for ``inference_detector``."""
    model = load_student_for_inference(config, checkpoint)
    model.dataset_meta = dict(classes=config_classes(model.cfg), novel_classes=config_novel_classes(model.cfg))
    return model


def config_novel_classes(cfg):
    """The novel class names ``cfg`` names (test evaluator, else ``model.roi_head.vocabulary``), or None."""
    evaluators = cfg.get("test_evaluator") or []
    for evaluator in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if evaluator.get("novel_classes"):
            return tuple(evaluator["novel_classes"])
    vocabulary = ((cfg.get("model") or {}).get("roi_head") or {}).get("vocabulary") or {}
    return tuple(vocabulary["novel_classes"]) if vocabulary.get("novel_classes") else None


def class_colour(label, num_classes):
    """A colour of its own for each of ``num_classes`` labels (hues around the wheel)."""
    r, g, b = colorsys.hsv_to_rgb(label / max(num_classes, 1), 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def box_colour(label, classes, novel_classes=None):
    """``label``'s box colour: NOVEL_COLOUR / BASE_COLOUR when ``novel_classes`` is given, else its class colour."""
    if not novel_classes:
        return class_colour(label, len(classes))
    return NOVEL_COLOUR if classes[label] in set(novel_classes) else BASE_COLOUR


def draw_predictions(image_path, result, classes, score_thr, title, scale=1, novel_classes=None):
    """The image (enlarged ``scale`` times) with each prediction above ``score_thr`` boxed and
    labelled, under a title strip (which says which colour is base and which novel when
    ``novel_classes`` is given)."""
    image = Image.open(image_path).convert("RGB")
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    canvas = Image.new("RGB", (image.width, image.height + TITLE_HEIGHT), "white")
    canvas.paste(image, (0, TITLE_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), title, fill="black")
    if novel_classes:
        x = 2 + draw.textlength(title) + 8
        for word, colour in (("base", BASE_COLOUR), ("novel", NOVEL_COLOUR)):
            draw.text((x, 1), word, fill=colour)
            x += draw.textlength(word) + 6
    pred = result.pred_instances
    keep = pred.scores >= score_thr
    for box, label, score in zip(pred.bboxes[keep].tolist(), pred.labels[keep].tolist(), pred.scores[keep].tolist()):
        x1, y1, x2, y2 = (v * scale for v in box)
        y1, y2 = y1 + TITLE_HEIGHT, y2 + TITLE_HEIGHT
        colour = box_colour(label, classes, novel_classes)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
        text = f"{classes[label]} {score:.2f}"
        draw.rectangle(draw.textbbox((x1 + 1, y1 + 1), text), fill="black")
        draw.text((x1 + 1, y1 + 1), text, fill=colour)
    return canvas


def render_grid(models, images, score_thr=0.3, scale=1):
    """models: [(name, config, checkpoint)] -> a PIL image, a row per model, a column per image."""
    rows = []
    for name, config, checkpoint in models:
        detector = load_detector(config, checkpoint)
        classes, novel = detector.dataset_meta["classes"], detector.dataset_meta["novel_classes"]
        with torch.no_grad():
            tiles = [draw_predictions(path, inference_detector(detector, path), classes, score_thr,
                                      f"{name}: {os.path.basename(path)}", scale, novel) for path in images]
        rows.append(np.concatenate([np.asarray(t) for t in tiles], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))

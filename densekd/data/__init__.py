"""Synthetic datasets written in the real on-disk formats."""
from densekd.data.cityscapes import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    colorize_train_ids,
    convert_label_ids,
    label_ids_to_train_ids,
    make_street_scenes,
)
from densekd.data.shapes import SHAPES_CLASSES, make_shapes_coco

__all__ = [
    "CITYSCAPES_CLASSES", "CITYSCAPES_LABELS", "CITYSCAPES_PALETTE", "SHAPES_CLASSES",
    "colorize_train_ids", "convert_label_ids", "label_ids_to_train_ids", "make_shapes_coco",
    "make_street_scenes",
]

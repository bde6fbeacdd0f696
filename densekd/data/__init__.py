"""Synthetic datasets written in the real on-disk formats."""
from densekd.data.shapes import SHAPES_CLASSES, make_shapes_coco

__all__ = ["SHAPES_CLASSES", "make_shapes_coco"]

"""Cityscapes on disk: the label table and the labelIds -> labelTrainIds conversion.

The real Cityscapes release (``gtFine_trainvaltest.zip`` + ``leftImg8bit_trainvaltest.zip``) and
the synthetic street scenes (:mod:`densekd.data.street_scenes`) share one layout::

    root/leftImg8bit/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png        RGB
    root/gtFine/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png       official ids
    root/gtFine/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds.png  0..18, 255

The release ships ``*_gtFine_labelIds.png`` (uint8, one of the 34 official label ids a pixel; the
labels of its test split are withheld); :func:`convert_label_ids` writes the sibling
``*_gtFine_labelTrainIds.png`` (uint8, the 19 evaluated classes as 0..18 and 255 for everything
ignored) that mmseg's ``CityscapesDataset`` reads.
"""
import os
from collections import namedtuple
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.errors import InvalidType, InvalidValue, MissingFile

__all__ = [
    "CityscapesLabel", "CITYSCAPES_LABELS", "CITYSCAPES_CLASSES", "CITYSCAPES_PALETTE", "IGNORE_INDEX", "LABEL_IDS",
    "IMAGE_SUFFIX", "LABEL_IDS_SUFFIX", "TRAIN_IDS_SUFFIX", "label_ids_to_train_ids", "colorize_label_map",
    "colorize_train_ids", "find_label_id_files", "convert_label_ids",
]

# ---------------------------------------------------------------------------------------------
# The official label table (cityscapesScripts' labels.py): name, id, trainId, colour (RGB).
# trainId 255 = not evaluated (ignored in training); 'license plate' is -1 / -1 as upstream: it
# is used only by instance polygons and never appears in a labelIds image.

CityscapesLabel = namedtuple("CityscapesLabel", ["name", "id", "train_id", "color"])

CITYSCAPES_LABELS = (
    CityscapesLabel("unlabeled", 0, 255, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, (119, 11, 32)),
    CityscapesLabel("license plate", -1, -1, (0, 0, 142)),
)

_TRAIN_LABELS = sorted((l for l in CITYSCAPES_LABELS if 0 <= l.train_id < 255), key=lambda l: l.train_id)
assert [l.train_id for l in _TRAIN_LABELS] == list(range(19))
CITYSCAPES_CLASSES = tuple(l.name for l in _TRAIN_LABELS)
CITYSCAPES_PALETTE = tuple(l.color for l in _TRAIN_LABELS)
IGNORE_INDEX = 255

LABEL_IDS = {l.name: l.id for l in CITYSCAPES_LABELS}  # name -> official label id
_TRAIN_ID_LUT = np.full(256, IGNORE_INDEX, dtype=np.uint8)  # label id -> trainId
for _label in CITYSCAPES_LABELS:
    if _label.id >= 0 and 0 <= _label.train_id < 255:
        _TRAIN_ID_LUT[_label.id] = _label.train_id

LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
IMAGE_SUFFIX = "_leftImg8bit.png"
_PROGRESS_MIN_FILES = 50  # show a progress bar from this many files on


def label_ids_to_train_ids(label_ids):
    """Map official label ids (H, W) of any integer dtype to trainIds (H, W) uint8.

    The 19 evaluated classes become 0..18; every other id, and any id outside the table
    (negative, > 33), becomes 255.
    """
    ids = np.asarray(label_ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidType(f"label ids must be an integer array, got dtype {ids.dtype}")
    if ids.dtype == np.uint8:
        return _TRAIN_ID_LUT[ids]
    out = np.full(ids.shape, IGNORE_INDEX, dtype=np.uint8)
    valid = (ids >= 0) & (ids < 256)
    out[valid] = _TRAIN_ID_LUT[ids[valid]]
    return out


def colorize_label_map(label_map, palette=CITYSCAPES_PALETTE, ignore_colour=(0, 0, 0)):
    """(H, W) integer labels -> (H, W, 3) uint8: label k gets ``palette[k]``; the ignore index (255)
    and any label outside ``[0, len(palette))`` get ``ignore_colour`` (black)."""
    labels = np.asarray(label_map)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidType(f"a label map must hold integers, got dtype {labels.dtype}")
    if labels.ndim != 2:
        raise InvalidValue(f"a label map must be (H, W), got shape {labels.shape}")
    lut = np.array(list(palette) + [ignore_colour], dtype=np.uint8).reshape(-1, 3)
    index = np.where((labels >= 0) & (labels < len(palette)), labels, len(palette))
    return lut[index]


def colorize_train_ids(train_ids):
    """(H, W) trainIds -> (H, W, 3) uint8 in the Cityscapes palette; 255 (and unknown) black."""
    return colorize_label_map(train_ids, CITYSCAPES_PALETTE)


def find_label_id_files(gt_root):
    """Sorted paths of every ``*_gtFine_labelIds.png`` under ``gt_root`` (symlinks followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(gt_root, followlinks=True):
        dirnames.sort()
        found.extend(Path(dirpath) / name for name in filenames if name.endswith(LABEL_IDS_SUFFIX))
    return sorted(found)


def _save_png_atomically(array, path):
    """Write a uint8 (H, W) or (H, W, 3) array as PNG via a temporary file, so no half file stays."""
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)


def convert_label_ids(gt_root, overwrite=False):
    """Write ``*_gtFine_labelTrainIds.png`` next to every ``*_gtFine_labelIds.png`` under ``gt_root``.

    Existing trainIds files are left alone unless ``overwrite``. Returns how many files were
    written. A progress bar is shown when there are many files.
    """
    from tqdm import tqdm

    gt_root = Path(gt_root)
    if not gt_root.is_dir():
        raise MissingFile(f"label directory not found: {gt_root}")
    sources = find_label_id_files(gt_root)
    written = 0
    progress = tqdm(sources, desc="labelIds -> labelTrainIds", unit="file",
                    disable=len(sources) < _PROGRESS_MIN_FILES)
    for source in progress:
        target = source.with_name(source.name[: -len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX)
        if not overwrite and target.exists():
            continue
        with Image.open(source) as image:
            mode = image.mode
            ids = np.asarray(image)
        if ids.ndim != 2:
            raise InvalidValue(f"{source}: expected a single-channel label-id image, got mode {mode}")
        _save_png_atomically(label_ids_to_train_ids(ids), target)
        written += 1
    return written

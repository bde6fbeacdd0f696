"""The synthetic shapes dataset: real COCO files, honest boxes, occlusion, determinism."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from densekd.data import SHAPES_CLASSES, make_shapes_coco

SPLITS = ("train", "val")


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    summary = make_shapes_coco(root, num_train=8, num_val=4, image_size=96, seed=3)
    assert summary["generated"] is True
    return root


def _load(root, split):
    return json.loads((Path(root) / "annotations" / f"instances_{split}.json").read_text())


def _all_annotations(root):
    return [a for split in SPLITS for a in _load(root, split)["annotations"]]


def test_layout_and_summary(shapes_root):
    summary = make_shapes_coco(shapes_root, num_train=8, num_val=4, image_size=96, seed=3)
    assert summary["train"]["images"] == 8 and summary["val"]["images"] == 4
    for split, count in (("train", 8), ("val", 4)):
        coco = _load(shapes_root, split)
        assert [img["file_name"] for img in coco["images"]] == [f"{i:06d}.jpg" for i in range(count)]
        assert summary[split]["objects"] == len(coco["annotations"])
        for img in coco["images"]:
            with Image.open(shapes_root / split / img["file_name"]) as im:
                assert im.mode == "RGB" and im.size == (img["width"], img["height"]) == (96, 96)
        assert [c["name"] for c in coco["categories"]] == list(SHAPES_CLASSES)
        assert [c["id"] for c in coco["categories"]] == list(range(1, len(SHAPES_CLASSES) + 1))
        assert {c["supercategory"] for c in coco["categories"]} == {"shape"}


def test_files_load_with_pycocotools(shapes_root):
    coco_api = pytest.importorskip("pycocotools.coco")
    for split in SPLITS:
        coco = coco_api.COCO(str(shapes_root / "annotations" / f"instances_{split}.json"))
        assert len(coco.getCatIds()) >= 8
        assert len(coco.getImgIds()) == (8 if split == "train" else 4)
        ann_ids = coco.getAnnIds()
        assert len(ann_ids) == len(set(ann_ids)) > 0
        for ann in coco.loadAnns(ann_ids):
            assert ann["iscrowd"] == 0 and 1 <= ann["category_id"] <= len(SHAPES_CLASSES)


def test_boxes_inside_images_with_positive_size(shapes_root):
    for split in SPLITS:
        coco = _load(shapes_root, split)
        sizes = {img["id"]: (img["width"], img["height"]) for img in coco["images"]}
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            width, height = sizes[ann["image_id"]]
            assert w > 0 and h > 0
            assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
            assert 0 < ann["area"] <= w * h


def test_images_hold_several_objects(shapes_root):
    for split in SPLITS:
        coco = _load(shapes_root, split)
        counts = np.bincount([a["image_id"] for a in coco["annotations"]],
                             minlength=len(coco["images"]) + 1)[1:]
        assert counts.min() >= 1
        assert counts.mean() >= 2.5


def test_partial_occlusion_is_real_and_bounded(shapes_root):
    anns = _all_annotations(shapes_root)
    visible = np.array([a["area"] / a["full_area"] for a in anns])
    assert (visible < 0.95).any(), "no object in the set is partially occluded"
    assert visible.min() >= 0.4 and visible.max() <= 1.0


def test_segmentation_is_the_full_outline(shapes_root):
    mask_api = pytest.importorskip("pycocotools.mask")
    coco = _load(shapes_root, "train")
    for ann in coco["annotations"]:
        rles = mask_api.frPyObjects(ann["segmentation"], 96, 96)
        full = mask_api.decode(mask_api.merge(rles)).astype(bool)
        # pycocotools samples edge pixels its own way: allow a few pixels of disagreement
        assert abs(int(full.sum()) - ann["full_area"]) <= 0.05 * ann["full_area"] + 3
        ys, xs = np.nonzero(full)
        x, y, w, h = ann["bbox"]
        assert xs.min() <= x + 1 and ys.min() <= y + 1
        assert xs.max() + 1 >= x + w - 1 and ys.max() + 1 >= y + h - 1


def test_ring_has_a_hole(shapes_root, tmp_path):
    mask_api = pytest.importorskip("pycocotools.mask")
    rings = [a for a in _all_annotations(shapes_root) if SHAPES_CLASSES[a["category_id"] - 1] == "ring"]
    assert rings, "no ring in the generated set"
    for ann in rings:
        full = mask_api.decode(mask_api.merge(mask_api.frPyObjects(ann["segmentation"], 96, 96)))
        x, y, w, h = ann["bbox"]
        if ann["area"] == ann["full_area"]:  # unoccluded: the box centre lies in the hole
            assert full[int(y + h / 2), int(x + w / 2)] == 0


def test_colour_does_not_identify_the_class(shapes_root):
    """Unoccluded objects of one class come in clearly different colours."""
    mask_api = pytest.importorskip("pycocotools.mask")
    colours = {}
    for split in SPLITS:
        coco = _load(shapes_root, split)
        names = {img["id"]: img["file_name"] for img in coco["images"]}
        for ann in coco["annotations"]:
            if ann["area"] != ann["full_area"]:
                continue
            pixels = np.asarray(Image.open(shapes_root / split / names[ann["image_id"]]), dtype=float)
            mask = mask_api.decode(mask_api.merge(mask_api.frPyObjects(ann["segmentation"], 96, 96)))
            colours.setdefault(ann["category_id"], []).append(pixels[mask.astype(bool)].mean(axis=0))
    spreads = [np.ptp(np.array(c), axis=0).max() for c in colours.values() if len(c) >= 2]
    assert spreads and min(spreads) > 40


def test_same_arguments_give_identical_bytes(tmp_path):
    args = dict(num_train=3, num_val=2, image_size=64, seed=11)
    make_shapes_coco(tmp_path / "a", **args)
    make_shapes_coco(tmp_path / "b", **args)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 3 + 2 + 2 + 1
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_val_does_not_depend_on_train_count(tmp_path):
    make_shapes_coco(tmp_path / "a", num_train=2, num_val=2, image_size=64, seed=5)
    make_shapes_coco(tmp_path / "b", num_train=5, num_val=2, image_size=64, seed=5)
    for name in ("val/000000.jpg", "val/000001.jpg", "annotations/instances_val.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    make_shapes_coco(tmp_path / "c", num_train=2, num_val=2, image_size=64, seed=6)
    assert (tmp_path / "a" / "train/000000.jpg").read_bytes() != (tmp_path / "c" / "train/000000.jpg").read_bytes()


def test_existing_dataset_is_reused_and_stale_one_regenerated(tmp_path):
    first = make_shapes_coco(tmp_path, num_train=4, num_val=1, image_size=64, seed=0)
    ann_file = tmp_path / "annotations" / "instances_train.json"
    stamp = ann_file.stat().st_mtime_ns
    again = make_shapes_coco(tmp_path, num_train=4, num_val=1, image_size=64, seed=0)
    assert again["generated"] is False and again["train"] == first["train"]
    assert ann_file.stat().st_mtime_ns == stamp

    smaller = make_shapes_coco(tmp_path, num_train=2, num_val=1, image_size=64, seed=0)
    assert smaller["generated"] is True and smaller["train"]["images"] == 2
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["000000.jpg", "000001.jpg"]
    meta = json.loads((tmp_path / "shapes_meta.json").read_text())
    assert meta["args"]["num_train"] == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=16), "image_size must be in [32, 4096], got 16"),
    (dict(min_objects=4, max_objects=2), "max_objects must be >= min_objects"),
    (dict(min_objects=0), "min_objects must be in [1, 30], got 0"),
    (dict(num_train=0), "num_train must be in"),
    (dict(num_val=-1), "num_val must be in"),
    (dict(seed=-1), "seed must be >= 0, got -1"),
    (dict(image_size=64.0), "image_size must be an integer, got 64.0"),
])
def test_bad_arguments_raise(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as err:
        make_shapes_coco(tmp_path / "bad", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_mmdet_coco_dataset_reads_the_boxes(shapes_root):
    pytest.importorskip("pycocotools")
    pytest.importorskip("mmdet")
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules()
    dataset = CocoDataset(
        data_root=str(shapes_root),
        ann_file="annotations/instances_train.json",
        data_prefix=dict(img="train/"),
        metainfo=dict(classes=SHAPES_CLASSES),
        pipeline=[
            dict(type="LoadImageFromFile"),
            dict(type="LoadAnnotations", with_bbox=True),
            dict(type="PackDetInputs"),
        ],
    )
    assert len(dataset) == 8
    coco = _load(shapes_root, "train")
    for index in (0, 5):
        sample = dataset[index]
        data_sample = sample["data_samples"]
        image_id = data_sample.img_id
        expected = [a for a in coco["annotations"] if a["image_id"] == image_id]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in expected)])
        labels = np.array([a["category_id"] - 1 for a in expected])
        assert tuple(sample["inputs"].shape) == (3, 96, 96)
        np.testing.assert_allclose(data_sample.gt_instances.bboxes.tensor.numpy(), boxes)
        np.testing.assert_array_equal(data_sample.gt_instances.labels.numpy(), labels)

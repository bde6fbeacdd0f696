"""The synthetic shapes dataset: real COCO files, honest boxes, occlusion, splits, determinism, configs."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import as_made_before_the_test_split
from densekd.data import SHAPES_CLASSES, SPLITS, make_shapes_coco

SIZES = dict(num_train=8, num_val=4, num_test=3)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    summary = make_shapes_coco(root, **SIZES, image_size=96, seed=3)
    assert summary["generated"] is True
    return root


def _load(root, split):
    return json.loads((Path(root) / "annotations" / f"instances_{split}.json").read_text())


def _all_annotations(root):
    return [a for split in SPLITS for a in _load(root, split)["annotations"]]


def test_layout_and_summary(shapes_root):
    summary = make_shapes_coco(shapes_root, **SIZES, image_size=96, seed=3)
    assert summary["generated"] is False
    for split in SPLITS:
        count = SIZES[f"num_{split}"]
        assert summary[split]["images"] == count
        coco = _load(shapes_root, split)
        assert [img["file_name"] for img in coco["images"]] == [f"{i:06d}.jpg" for i in range(count)]
        assert summary[split]["objects"] == len(coco["annotations"])
        per_class = np.bincount([a["category_id"] - 1 for a in coco["annotations"]], minlength=len(SHAPES_CLASSES))
        assert summary[split]["objects_per_class"] == dict(zip(SHAPES_CLASSES, per_class.tolist()))
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
        assert len(coco.getImgIds()) == SIZES[f"num_{split}"]
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
    args = dict(num_train=3, num_val=2, num_test=2, image_size=64, seed=11)
    make_shapes_coco(tmp_path / "a", **args)
    make_shapes_coco(tmp_path / "b", **args)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 3 + 2 + 2 + 3 + 1
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_val_and_test_do_not_depend_on_other_split_sizes(tmp_path):
    make_shapes_coco(tmp_path / "a", num_train=2, num_val=2, num_test=2, image_size=64, seed=5)
    make_shapes_coco(tmp_path / "b", num_train=5, num_val=3, num_test=2, image_size=64, seed=5)
    for name in ("val/000000.jpg", "val/000001.jpg", "test/000000.jpg", "test/000001.jpg",
                 "annotations/instances_test.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    make_shapes_coco(tmp_path / "c", num_train=2, num_val=2, num_test=2, image_size=64, seed=6)
    assert (tmp_path / "a" / "train/000000.jpg").read_bytes() != (tmp_path / "c" / "train/000000.jpg").read_bytes()


def test_test_split_is_disjoint_from_train_and_val(shapes_root):
    """The report split has its own folder and annotation file, and none of its images is a train or val image."""
    pixels = {split: [np.asarray(Image.open(shapes_root / split / img["file_name"]))
                      for img in _load(shapes_root, split)["images"]] for split in SPLITS}
    for image in pixels["test"]:
        assert not any(np.array_equal(image, other) for other in pixels["train"] + pixels["val"])
    paths = {split: {(shapes_root / split / img["file_name"]).resolve() for img in _load(shapes_root, split)["images"]}
             for split in SPLITS}
    assert not paths["test"] & (paths["train"] | paths["val"])


def test_adding_the_test_split_keeps_train_and_val(tmp_path):
    """A dataset made before there was a test split gets it added: train and val are not rewritten, the
    test split is the one a fresh generation writes."""
    args = dict(num_train=2, num_val=1, num_test=2, image_size=64, seed=4)
    fresh = make_shapes_coco(tmp_path / "fresh", **args)
    old = tmp_path / "old"
    make_shapes_coco(old, **args)
    as_made_before_the_test_split(old, "shapes_meta.json", [old / "test", old / "annotations" / "instances_test.json"])
    kept = [p for split in ("train", "val") for p in (old / split).iterdir()]
    kept += [old / "annotations" / f"instances_{split}.json" for split in ("train", "val")]
    stamps = {p: p.stat().st_mtime_ns for p in kept}

    added = make_shapes_coco(old, **args)
    assert added["generated"] is True and added["test"] == fresh["test"] and added["train"] == fresh["train"]
    assert {p: p.stat().st_mtime_ns for p in kept} == stamps
    for name in ("test/000000.jpg", "test/000001.jpg", "annotations/instances_test.json"):
        assert (old / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert make_shapes_coco(old, **args)["generated"] is False


def test_existing_dataset_is_reused_and_stale_one_regenerated(tmp_path):
    first = make_shapes_coco(tmp_path, num_train=4, num_val=1, num_test=1, image_size=64, seed=0)
    ann_file = tmp_path / "annotations" / "instances_train.json"
    stamp = ann_file.stat().st_mtime_ns
    again = make_shapes_coco(tmp_path, num_train=4, num_val=1, num_test=1, image_size=64, seed=0)
    assert again["generated"] is False and again["train"] == first["train"]
    assert ann_file.stat().st_mtime_ns == stamp

    smaller = make_shapes_coco(tmp_path, num_train=2, num_val=1, num_test=1, image_size=64, seed=0)
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
    (dict(num_test=0), "num_test must be in [1, 1000000], got 0"),
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


def test_demo_configs_tune_on_val_and_report_on_test(restore_scope):
    from densekd.core.config import load_config

    for config, suffix in (("configs/demo/faster_rcnn_student_shapes.py", ".json"),
                           ("configs/demo/ovd_baseline_shapes.py", ".ov.json"),
                           ("configs/demo/rpn_shapes_base.py", ".ov.json")):
        cfg = load_config(config)
        for split in ("val", "test"):
            dataset = cfg[f"{split}_dataloader"].dataset
            assert (dataset.data_root, dataset.ann_file, dataset.data_prefix.img) == \
                ("data/shapes/", f"annotations/instances_{split}{suffix}", f"{split}/"), config
            assert cfg[f"{split}_evaluator"].ann_file == f"data/shapes/annotations/instances_{split}{suffix}", config
    coco = load_config("configs/faster_rcnn_r50_fpn_2x_coco.py")  # the real COCO: its test labels are withheld
    assert coco.test_dataloader.dataset.ann_file == coco.val_dataloader.dataset.ann_file


def test_ov_annotations_of_the_report_split(shapes_root, tmp_path):
    from densekd.ovd.splits import SHAPES_NOVEL, prepare_ov_annotations

    root = tmp_path / "shapes"
    (root / "annotations").mkdir(parents=True)
    for split in SPLITS:
        (root / "annotations" / f"instances_{split}.json").write_bytes(
            (shapes_root / "annotations" / f"instances_{split}.json").read_bytes())
    written = prepare_ov_annotations("shapes", str(root))
    counts = written[str(root / "annotations" / "instances_test.ov.json")]
    test = _load(shapes_root, "test")["annotations"]
    novel = [a for a in test if SHAPES_CLASSES[a["category_id"] - 1] in SHAPES_NOVEL]
    assert counts["novel_boxes"] == len(novel) and counts["boxes"] == len(test)
    (root / "annotations" / "instances_test.json").unlink()  # shapes made before there was a test split
    with pytest.raises(FileNotFoundError, match="instances_test.json.*python tools/make_demo_data.py --out"):
        prepare_ov_annotations("shapes", str(root), force=True)

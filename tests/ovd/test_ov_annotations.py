"""Open-vocabulary COCO files: base-only train, base + novel val, ids remapped base-first."""
import json
import os
import shutil

import pytest

from conftest import load_tool
from densekd.ovd.splits import (OV_COCO_BASE, OV_COCO_NOVEL, SHAPES_BASE, SHAPES_NOVEL, ov_coco_annotations,
                                ov_coco_counts)

prepare_tool = load_tool("prepare_ov_coco")

SOURCE = dict(
    info=dict(description="toy"),
    categories=[dict(id=3, name="cat", supercategory="animal"), dict(id=5, name="dog", supercategory="animal"),
                dict(id=9, name="car", supercategory="vehicle"), dict(id=11, name="kite", supercategory="sports")],
    images=[dict(id=i, file_name=f"{i}.jpg", width=10, height=10) for i in (1, 2, 3, 4)],
    annotations=[
        dict(id=10, image_id=1, category_id=9, bbox=[0, 0, 2, 2], iscrowd=0),   # car (base)
        dict(id=11, image_id=1, category_id=3, bbox=[1, 1, 2, 2], iscrowd=0),   # cat (novel)
        dict(id=12, image_id=2, category_id=3, bbox=[1, 1, 2, 2], iscrowd=0),   # cat only
        dict(id=13, image_id=3, category_id=11, bbox=[1, 1, 2, 2], iscrowd=0),  # kite: neither
        dict(id=14, image_id=4, category_id=5, bbox=[1, 1, 3, 3], iscrowd=0),   # dog (base)
    ])
BASE, NOVEL = ("dog", "car"), ("cat",)


def test_train_file_keeps_base_boxes_and_the_images_that_have_them():
    out = ov_coco_annotations(SOURCE, BASE, NOVEL, "train")
    assert out["categories"] == [
        dict(id=1, name="dog", supercategory="animal", orig_id=5, split="base"),
        dict(id=2, name="car", supercategory="vehicle", orig_id=9, split="base")]
    assert [(a["id"], a["category_id"]) for a in out["annotations"]] == [(10, 2), (14, 1)]
    assert [im["id"] for im in out["images"]] == [1, 4]  # image 1 keeps its (unlabelled) cat
    assert out["info"] == SOURCE["info"]
    assert ov_coco_counts(out) == dict(images=2, boxes=2, base_boxes=2, novel_boxes=0, images_with_novel=0)


def test_ov_file_has_base_then_novel_classes():
    out = ov_coco_annotations(SOURCE, BASE, NOVEL, "ov")
    assert [(c["id"], c["name"], c["orig_id"], c["split"]) for c in out["categories"]] == [
        (1, "dog", 5, "base"), (2, "car", 9, "base"), (3, "cat", 3, "novel")]
    assert [(a["id"], a["category_id"]) for a in out["annotations"]] == [(10, 2), (11, 3), (12, 3), (14, 1)]
    assert [im["id"] for im in out["images"]] == [1, 2, 4]
    assert ov_coco_counts(out) == dict(images=3, boxes=4, base_boxes=2, novel_boxes=2, images_with_novel=2)
    assert SOURCE["annotations"][0]["category_id"] == 9  # the source is left untouched


def test_missing_or_overlapping_names_say_what_to_fix():
    with pytest.raises(KeyError, match=r"'dgo' \(close: dog\)") as err:
        ov_coco_annotations(SOURCE, ("dgo", "car"), NOVEL, "train", source="toy.json")
    assert "toy.json" in str(err.value) and "cat, dog" in str(err.value)
    with pytest.raises(ValueError, match=r"both base and novel: \['cat'\]"):
        ov_coco_annotations(SOURCE, ("cat", "car"), NOVEL, "ov")
    with pytest.raises(ValueError, match="kind must be one of"):
        ov_coco_annotations(SOURCE, BASE, NOVEL, "val")


def test_ov_coco_split_sizes():
    assert len(OV_COCO_BASE) == 48 and len(OV_COCO_NOVEL) == 17
    assert not set(OV_COCO_BASE) & set(OV_COCO_NOVEL)
    assert len(SHAPES_BASE) + len(SHAPES_NOVEL) == 10


def test_prepare_tool_on_shapes_writes_skips_and_forces(shapes_root, tmp_path, capsys):
    root = tmp_path / "shapes"
    shutil.copytree(os.path.join(shapes_root, "annotations"), root / "annotations")
    results = prepare_tool.main(["--dataset", "shapes", "--data-root", str(root)])
    train_out = str(root / "annotations" / "instances_train.base.json")
    val_out = str(root / "annotations" / "instances_val.ov.json")
    assert set(results) == {train_out, val_out}
    printed = capsys.readouterr().out
    assert "7 base / 3 novel" in printed and "boxes (base" in printed
    val = json.load(open(val_out))
    source = json.load(open(root / "annotations" / "instances_val.json"))
    assert results[val_out]["boxes"] == len(source["annotations"])  # every shape is base or novel
    assert [c["name"] for c in val["categories"]] == list(SHAPES_BASE + SHAPES_NOVEL)
    train = json.load(open(train_out))
    assert {c["split"] for c in train["categories"]} == {"base"}
    assert results[train_out]["novel_boxes"] == 0
    # up to date: skipped; --force rewrites
    argv = ["--dataset", "shapes", "--data-root", str(root)]
    assert prepare_tool.main(argv) == {train_out: None, val_out: None}
    assert "up to date" in capsys.readouterr().out
    assert prepare_tool.main(argv + ["--force"])[val_out] is not None


def test_prepare_tool_names_the_missing_file_and_how_to_get_it(tmp_path):
    with pytest.raises(SystemExit, match=r"instances_train2017.json.*cocodataset.org.*annotations"):
        prepare_tool.main(["--data-root", str(tmp_path / "coco")])
    with pytest.raises(SystemExit, match=r"instances_train.json.*python tools/make_demo_data.py"):
        prepare_tool.main(["--dataset", "shapes", "--data-root", str(tmp_path / "shapes")])

"""Open-vocabulary COCO files: base-only train, base + novel val, ids remapped base-first."""
import json
import os
import shutil

import pytest

from conftest import load_tool
from densekd.ovd.splits import (OV_COCO_BASE, OV_COCO_NOVEL, SHAPES_BASE, SHAPES_NOVEL, lvis_base_novel,
                                ov_coco_annotations, ov_coco_counts)

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
    test_out = str(root / "annotations" / "instances_test.ov.json")  # the report split
    assert set(results) == {train_out, val_out, test_out}
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
    assert prepare_tool.main(argv) == {train_out: None, val_out: None, test_out: None}
    assert "up to date" in capsys.readouterr().out
    assert prepare_tool.main(argv + ["--force"])[val_out] is not None


def test_prepare_tool_names_the_missing_file_and_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"instances_train2017.json.*cocodataset.org.*annotations"):
        prepare_tool.main(["--data-root", str(tmp_path / "coco")])
    with pytest.raises(FileNotFoundError, match=r"instances_train.json.*python tools/make_demo_data.py"):
        prepare_tool.main(["--dataset", "shapes", "--data-root", str(tmp_path / "shapes")])


# --- OV-LVIS: base = common + frequent, novel = rare, from each category's frequency field ---------
def lvis_source(split):
    """A tiny LVIS v1-style dict: 5 categories (2 rare), 4 images, per-image category lists."""
    freqs = {1: "f", 2: "r", 3: "c", 4: "r", 5: "f"}
    return dict(
        info=dict(description=f"toy lvis {split}"),
        categories=[dict(id=k, name=f"cls{k}", synset=f"cls{k}.n.01", frequency=f, image_count=1,
                         instance_count=1) for k, f in freqs.items()],
        images=[dict(id=i, coco_url=f"http://images.cocodataset.org/{split}2017/{i:012d}.jpg", width=10,
                     height=10, neg_category_ids=[2, 3], not_exhaustive_category_ids=[4]) for i in (1, 2, 3, 4)],
        annotations=[
            dict(id=20, image_id=1, category_id=1, bbox=[0, 0, 2, 2], area=4),   # cls1 f
            dict(id=21, image_id=1, category_id=2, bbox=[1, 1, 2, 2], area=4),   # cls2 r
            dict(id=22, image_id=2, category_id=4, bbox=[1, 1, 2, 2], area=4),   # cls4 r only
            dict(id=23, image_id=3, category_id=5, bbox=[1, 1, 3, 3], area=9),   # cls5 f
            dict(id=24, image_id=3, category_id=3, bbox=[2, 2, 3, 3], area=9),   # cls3 c
        ])  # image 4: no annotation


def write_lvis(root):
    ann = root / "annotations"
    ann.mkdir(parents=True)
    for split in ("train", "val"):
        (ann / f"lvis_v1_{split}.json").write_text(json.dumps(lvis_source(split)))
    return ann


def test_lvis_base_novel_come_from_the_frequency_field():
    assert lvis_base_novel(lvis_source("val")) == (("cls1", "cls3", "cls5"), ("cls2", "cls4"))
    bad = lvis_source("val")
    del bad["categories"][0]["frequency"]
    with pytest.raises(ValueError, match=r"no LVIS frequency.*\('cls1', None\)"):
        lvis_base_novel(bad)


def test_prepare_tool_on_lvis_writes_base_only_train_and_base_first_val(tmp_path, capsys):
    ann = write_lvis(tmp_path / "lvis")
    results = prepare_tool.main(["--dataset", "lvis", "--data-root", str(tmp_path / "lvis")])
    train_out, val_out = str(ann / "lvis_v1_train.866.json"), str(ann / "lvis_v1_val.1203.json")
    assert "common + frequent" in capsys.readouterr().out
    train, val = json.load(open(train_out)), json.load(open(val_out))

    assert [(c["id"], c["name"], c["orig_id"], c["split"]) for c in train["categories"]] == [
        (1, "cls1", 1, "base"), (2, "cls3", 3, "base"), (3, "cls5", 5, "base")]
    assert train["categories"][1]["frequency"] == "c" and train["categories"][1]["synset"] == "cls3.n.01"
    assert [(a["id"], a["category_id"]) for a in train["annotations"]] == [(20, 1), (23, 3), (24, 2)]
    assert not {21, 22} & {a["id"] for a in train["annotations"]}  # no rare box in train
    assert [im["id"] for im in train["images"]] == [1, 3]  # image 2 had only a rare box
    assert train["images"][0]["neg_category_ids"] == [2] and train["images"][0]["not_exhaustive_category_ids"] == []
    assert results[train_out] == dict(images=2, boxes=3, base_boxes=3, novel_boxes=0, images_with_novel=0,
                                      base_classes=3, novel_classes=2)

    assert [(c["id"], c["name"], c["orig_id"], c["split"]) for c in val["categories"]] == [
        (1, "cls1", 1, "base"), (2, "cls3", 3, "base"), (3, "cls5", 5, "base"),
        (4, "cls2", 2, "novel"), (5, "cls4", 4, "novel")]
    assert [(a["id"], a["category_id"]) for a in val["annotations"]] == [(20, 1), (21, 4), (22, 5), (23, 3), (24, 2)]
    assert [im["id"] for im in val["images"]] == [1, 2, 3, 4]  # LVIS evaluation needs every image
    assert val["images"][3]["neg_category_ids"] == [4, 2] and val["images"][3]["not_exhaustive_category_ids"] == [5]
    assert results[val_out] == dict(images=4, boxes=5, base_boxes=3, novel_boxes=2, images_with_novel=2,
                                    base_classes=3, novel_classes=2)


def test_prepare_tool_lvis_names_the_missing_file_and_where_to_get_lvis(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lvis_v1_train.json.*LVIS v1.*lvisdataset.org"):
        prepare_tool.main(["--dataset", "lvis", "--data-root", str(tmp_path / "lvis")])

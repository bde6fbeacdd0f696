"""OVLVISDataset: class names from an LVIS-format file in id order, labels indexing them, image paths from coco_url."""
import json
import os

import pytest
from mmengine.config import Config

from densekd.ovd.datasets import OVLVISDataset
from mmdet.registry import DATASETS

# base-first ids as prepare_ov_coco writes them; listed out of id order on purpose
CATEGORIES = [dict(id=3, name="cat", frequency="r"), dict(id=1, name="apple", frequency="f"),
              dict(id=2, name="bowl", frequency="c")]


@pytest.fixture
def lvis_file(tmp_path):
    lvis = dict(
        images=[dict(id=7, width=100, height=80, coco_url="http://images.cocodataset.org/val2017/000000000007.jpg",
                     neg_category_ids=[2], not_exhaustive_category_ids=[]),
                dict(id=9, width=100, height=80, coco_url="http://images.cocodataset.org/train2017/000000000009.jpg",
                     neg_category_ids=[], not_exhaustive_category_ids=[1])],
        categories=CATEGORIES,
        annotations=[dict(id=1, image_id=7, category_id=3, bbox=[10, 10, 20, 20], area=400),
                     dict(id=2, image_id=7, category_id=1, bbox=[40, 40, 10, 10], area=100),
                     dict(id=3, image_id=9, category_id=2, bbox=[0, 0, 50, 50], area=2500)])
    path = tmp_path / "annotations" / "lvis_v1_val.3.json"
    path.parent.mkdir()
    path.write_text(json.dumps(lvis))
    return tmp_path


def build(root, **kwargs):
    return DATASETS.build(dict(type="OVLVISDataset", data_root=str(root), ann_file="annotations/lvis_v1_val.3.json",
                               data_prefix=dict(img="../coco/"), pipeline=[], test_mode=True, **kwargs))


def test_classes_come_from_the_file_in_id_order_and_labels_index_them(lvis_file):
    dataset = build(lvis_file)
    assert dataset.metainfo["classes"] == ("apple", "bowl", "cat")
    assert len(dataset) == 2
    first = dataset.get_data_info(0)
    names = [dataset.metainfo["classes"][i["bbox_label"]] for i in first["instances"]]
    assert names == ["cat", "apple"]
    assert first["img_path"] == os.path.join(str(lvis_file), "../coco/", "val2017/000000000007.jpg")
    assert dataset.get_data_info(1)["img_path"].endswith("../coco/train2017/000000000009.jpg")
    assert [dataset.metainfo["classes"][i["bbox_label"]] for i in dataset.get_data_info(1)["instances"]] == ["bowl"]


def test_given_classes_must_match_the_file(lvis_file):
    assert build(lvis_file, metainfo=dict(classes=("apple", "bowl", "cat"))).metainfo["classes"][2] == "cat"
    with pytest.raises(ValueError, match=r"not the 3 categories .* in id order .*leave metainfo classes out"):
        build(lvis_file, metainfo=dict(classes=("cat", "apple", "bowl")))


def test_ov_lvis_config_uses_the_dataset_and_the_lvis_metric():
    cfg = Config.fromfile("configs/_base_/datasets/ov_lvis.py")
    assert cfg.val_dataloader.dataset.type == "OVLVISDataset" and OVLVISDataset is DATASETS.get("OVLVISDataset")
    assert "metainfo" not in cfg.val_dataloader.dataset  # the classes come from the file
    assert cfg.val_evaluator.type == "OVLVISMetric" and cfg.val_evaluator.max_dets == 300
    assert cfg.val_evaluator.ann_file == "data/lvis/annotations/lvis_v1_val.1203.json"
    assert cfg.train_dataloader.dataset.ann_file == "annotations/lvis_v1_train.866.json"
    assert set(cfg.custom_imports.imports) == {"densekd.ovd.datasets", "densekd.ovd.metrics"}

"""The synthetic street scenes in the Cityscapes layout: files, labels, splits, determinism, configs."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import as_made_before_the_test_split, load_tool, read_png, write_png
from densekd.data import CITYSCAPES_CLASSES, CITYSCAPES_LABELS, SPLITS, label_ids_to_train_ids, make_street_scenes

TINY = dict(num_train=6, num_val=2, num_test=2, size=(64, 128), seed=0)
# the Cityscapes names of TINY's files: images dealt over the split's cities in turn
TINY_STEMS = {
    "train": [f"{city}/{city}_{seq:06d}_000019" for seq in range(3) for city in ("aachen", "bremen")],
    "val": [f"frankfurt/frankfurt_{seq:06d}_000019" for seq in range(2)],
    "test": ["berlin/berlin_000000_000019", "munich/munich_000000_000019"],
}



@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes_synthetic")
    summary = make_street_scenes(root, **TINY)
    assert summary["generated"] is True
    return root


def _label_files(root, splits=SPLITS):
    """[(labelIds, labelTrainIds)] arrays of every generated image of ``splits``."""
    out = []
    for split in splits:
        for stem in TINY_STEMS[split]:
            base = root / "gtFine" / split / stem
            out.append((read_png(f"{base}_gtFine_labelIds.png")[1], read_png(f"{base}_gtFine_labelTrainIds.png")[1]))
    return out


def _split_files(root, split):
    """{path relative to root: bytes} of every file of ``split``."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for top in ("leftImg8bit", "gtFine") for p in sorted((root / top / split).rglob("*.png"))}


def test_layout_and_file_names(scenes_root):
    expected = {"street_scenes_meta.json"}
    for split, stems in TINY_STEMS.items():
        for stem in stems:
            expected |= {f"leftImg8bit/{split}/{stem}_leftImg8bit.png",
                         f"gtFine/{split}/{stem}_gtFine_labelIds.png",
                         f"gtFine/{split}/{stem}_gtFine_labelTrainIds.png"}
    found = {p.relative_to(scenes_root).as_posix() for p in scenes_root.rglob("*") if p.is_file()}
    assert found == expected
    for split, stems in TINY_STEMS.items():
        for stem in stems:
            with Image.open(scenes_root / "leftImg8bit" / split / f"{stem}_leftImg8bit.png") as image:
                assert image.mode == "RGB" and image.size == (128, 64)
            for kind in ("labelIds", "labelTrainIds"):
                with Image.open(scenes_root / "gtFine" / split / f"{stem}_gtFine_{kind}.png") as label:
                    assert label.mode == "L" and label.size == (128, 64)


def test_summary_and_meta(scenes_root):
    summary = make_street_scenes(scenes_root, **TINY)
    assert summary["generated"] is False
    assert summary["classes"] == list(CITYSCAPES_CLASSES)
    assert (summary["height"], summary["width"]) == (64, 128)
    assert summary["train"]["images"] == 6 and summary["train"]["cities"] == {"aachen": 3, "bremen": 3}
    assert summary["val"]["images"] == 2 and summary["val"]["cities"] == {"frankfurt": 2}
    assert summary["test"]["images"] == 2 and summary["test"]["cities"] == {"berlin": 1, "munich": 1}
    meta = json.loads((scenes_root / "street_scenes_meta.json").read_text())
    assert meta["args"] == dict(format_version=1, num_train=6, num_val=2, num_test=2, height=64, width=128, seed=0)
    assert meta["complete"] is True
    # the recorded frequencies (train + val) are those of the trainIds files on disk
    counts = sum(np.bincount(train.ravel(), minlength=256) for _, train in _label_files(scenes_root, ("train", "val")))
    total = counts.sum()
    for k, name in enumerate(CITYSCAPES_CLASSES):
        assert summary["class_frequencies"][name] == pytest.approx(counts[k] / total, abs=1e-6)
    assert summary["class_frequencies"]["ignore"] == pytest.approx(counts[255] / total, abs=1e-6)
    assert sum(summary["class_frequencies"].values()) == pytest.approx(1.0, abs=1e-4)
    test_counts = sum(np.bincount(train.ravel(), minlength=256) for _, train in _label_files(scenes_root, ("test",)))
    assert summary["test"]["class_frequencies"]["road"] == pytest.approx(test_counts[0] / test_counts.sum(), abs=1e-6)


def test_train_ids_follow_label_ids(scenes_root):
    official = {label.id for label in CITYSCAPES_LABELS}
    for label_ids, train_ids in _label_files(scenes_root):
        assert set(np.unique(label_ids).tolist()) <= official
        np.testing.assert_array_equal(train_ids, label_ids_to_train_ids(label_ids))
        assert set(np.unique(train_ids).tolist()) <= set(range(19)) | {255}
        np.testing.assert_array_equal(train_ids[label_ids == 7], 0)  # road
        np.testing.assert_array_equal(train_ids[label_ids == 26], 13)  # car
        # void: the ego vehicle's bonnet fills the bottom row (bar a rectification border)
        assert np.isin(label_ids[-1], (1, 2)).all() and (label_ids[-1] == 1).mean() > 0.9
        assert (train_ids[-1] == 255).all()
        assert (train_ids == 255).mean() < 0.2


def test_classes_present_and_frequencies(scenes_root):
    label_files = _label_files(scenes_root)
    present, with_sky = set(), 0
    for _, train_ids in label_files:
        present |= set(np.unique(train_ids).tolist()) - {255}
        # every image shows the street; trees or buildings may hide all of the sky
        assert {0, 1} <= set(np.unique(train_ids).tolist()) and {2, 8} & set(np.unique(train_ids).tolist())
        with_sky += bool((train_ids == 10).any())
    assert with_sky >= len(label_files) - 2
    assert len(present) >= 12, sorted(CITYSCAPES_CLASSES[k] for k in present)
    freq = make_street_scenes(scenes_root, **TINY)["class_frequencies"]
    assert freq["road"] > 0.15 and freq["building"] > 0.1 and freq["sky"] > 0.02
    assert 0 < freq["pole"] < 0.04 and 0 < freq["traffic sign"] < 0.01
    for common in ("road", "building", "sky", "vegetation"):
        for thin in ("pole", "traffic sign", "traffic light", "person"):
            assert freq[common] > freq[thin], (common, thin)


def test_street_geometry(scenes_root):
    """Sky above, road below: the average row of each class follows the street's perspective."""
    rows = {k: [] for k in (0, 1, 2, 10, 13)}
    for _, train_ids in _label_files(scenes_root):
        ys = np.arange(train_ids.shape[0])[:, None] * np.ones_like(train_ids)
        for k in rows:
            if (train_ids == k).any():
                rows[k].append(ys[train_ids == k].mean())
    mean = {k: float(np.mean(v)) for k, v in rows.items()}
    assert mean[10] < mean[2] < mean[13] < mean[0]  # sky, building, car, road
    assert mean[10] < 32 < mean[0]


def test_test_split_is_disjoint_from_train_and_val(scenes_root):
    """The report split has its own cities (file names) and no image or label map of train or val."""
    files = {split: _split_files(scenes_root, split) for split in SPLITS}
    names = {split: {Path(p).name for p in files[split]} for split in SPLITS}
    assert not names["test"] & (names["train"] | names["val"])
    images = {split: [read_png(scenes_root / p)[1] for p in files[split] if p.endswith("_leftImg8bit.png")]
              for split in SPLITS}
    for test_image in images["test"]:
        assert not any(np.array_equal(test_image, other) for other in images["train"] + images["val"])
    label_maps = {split: [label_ids.tobytes() for label_ids, _ in _label_files(scenes_root, (split,))]
                  for split in SPLITS}
    assert not set(label_maps["test"]) & set(label_maps["train"] + label_maps["val"])


def test_same_arguments_give_identical_bytes(tmp_path):
    args = dict(num_train=3, num_val=1, num_test=1, size=(64, 128))
    make_street_scenes(tmp_path / "a", seed=5, **args)
    make_street_scenes(tmp_path / "b", seed=5, **args)
    make_street_scenes(tmp_path / "c", seed=6, **args)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 3 * (3 + 1 + 1)
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    different = [rel for rel in files if (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()]
    assert len(different) == len(files)  # another seed: every image and label map changes
    # the val and test images depend neither on how many train images there are nor on each other's size
    make_street_scenes(tmp_path / "d", seed=5, num_train=1, num_val=2, num_test=2, size=(64, 128))
    for name in ("leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png",
                 "leftImg8bit/test/berlin/berlin_000000_000019_leftImg8bit.png",
                 "gtFine/test/berlin/berlin_000000_000019_gtFine_labelIds.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "d" / name).read_bytes(), name


def test_adding_the_test_split_keeps_train_and_val(tmp_path):
    """A dataset made before there was a test split gets it added: train and val are not rewritten, the
    test split is the one a fresh generation writes."""
    args = dict(num_train=2, num_val=1, num_test=2, size=(32, 64), seed=1)
    fresh = make_street_scenes(tmp_path / "fresh", **args)
    old = tmp_path / "old"
    make_street_scenes(old, **args)
    tops = ("leftImg8bit", "gtFine")
    as_made_before_the_test_split(old, "street_scenes_meta.json", [old / top / "test" for top in tops])
    kept = {p: p.stat().st_mtime_ns for top in tops for split in ("train", "val") for p in (old / top / split).rglob("*.png")}

    added = make_street_scenes(old, **args)
    assert added["generated"] is True and added["test"] == fresh["test"]
    assert added["class_frequencies"] == fresh["class_frequencies"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert _split_files(old, "test") == _split_files(tmp_path / "fresh", "test")
    assert json.loads((old / "street_scenes_meta.json").read_text())["args"]["num_test"] == 2
    assert make_street_scenes(old, **args)["generated"] is False


def test_reuse_and_regeneration(tmp_path):
    args = dict(num_val=1, num_test=1, size=(32, 64), seed=1)
    first = make_street_scenes(tmp_path, num_train=4, **args)
    image = tmp_path / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    stamp = image.stat().st_mtime_ns
    again = make_street_scenes(tmp_path, num_train=4, **args)
    assert again["generated"] is False and again["train"] == first["train"]
    assert image.stat().st_mtime_ns == stamp

    smaller = make_street_scenes(tmp_path, num_train=2, **args)
    assert smaller["generated"] is True and smaller["train"]["images"] == 2
    for top, kinds in (("leftImg8bit", 1), ("gtFine", 2)):
        assert len(list((tmp_path / top / "train").rglob("*.png"))) == 2 * kinds
    # a missing file makes the set incomplete: regenerated
    image.unlink()
    assert make_street_scenes(tmp_path, num_train=2, **args)["generated"] is True
    assert image.is_file()


def test_refuses_a_tree_it_did_not_write(tmp_path):
    write_png(tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png", [[7]])
    with pytest.raises(ValueError, match="not written by make_street_scenes"):
        make_street_scenes(tmp_path, num_train=1, num_val=1, num_test=1, size=(32, 64))
    assert (tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png").is_file()
    assert not (tmp_path / "street_scenes_meta.json").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_train=0), "num_train must be in"),
    (dict(num_val=-1), "num_val must be in"),
    (dict(num_test=0), "num_test must be in [1, 1000000], got 0"),
    (dict(size=(16, 64)), "height must be in [32, 2048], got 16"),
    (dict(size=128), "size must be a (height, width) pair"),
    (dict(size=(64, 128.0)), "width must be an integer"),
    (dict(seed=-1), "seed must be >= 0, got -1"),
])
def test_bad_arguments_raise(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as err:
        make_street_scenes(tmp_path / "bad", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_mmseg_cityscapes_dataset_reads_the_tree(scenes_root, restore_scope):
    pytest.importorskip("mmseg")
    from mmseg.datasets import CityscapesDataset
    from mmseg.utils import register_all_modules

    register_all_modules()
    for split, count in (("train", 6), ("val", 2), ("test", 2)):
        dataset = CityscapesDataset(
            data_root=str(scenes_root),
            data_prefix=dict(img_path=f"leftImg8bit/{split}", seg_map_path=f"gtFine/{split}"),
            pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")],
        )
        assert len(dataset) == count
        for index in range(count):
            sample = dataset[index]
            assert sample["img"].shape == (64, 128, 3)
            assert sample["seg_map_path"].endswith("_gtFine_labelTrainIds.png")
            seg = sample["gt_seg_map"]
            assert seg.shape == (64, 128)
            assert set(np.unique(seg).tolist()) <= set(range(19)) | {255}
            assert Path(sample["img_path"]).name.replace("_leftImg8bit.png", "") == \
                Path(sample["seg_map_path"]).name.replace("_gtFine_labelTrainIds.png", "")


def test_demo_configs_tune_on_val_and_report_on_test(restore_scope):
    from densekd.core.config import load_config

    cfg = load_config("configs/demo/deeplabv3_student_streets.py")
    for split in ("val", "test"):
        dataset = cfg[f"{split}_dataloader"].dataset
        assert dataset.data_root == "data/cityscapes_synthetic/"
        assert dict(dataset.data_prefix) == dict(img_path=f"leftImg8bit/{split}", seg_map_path=f"gtFine/{split}")
    real = load_config("configs/deeplabv3_r18_cityscapes.py")  # the real Cityscapes: its test labels are withheld
    assert real.test_dataloader.dataset.data_prefix == real.val_dataloader.dataset.data_prefix


def test_make_demo_data_cityscapes(tmp_path, capsys):
    tool = load_tool("make_demo_data")
    defaults = tool.parse_args([])  # shapes, as before
    assert (defaults.dataset, defaults.out, defaults.num_train, defaults.num_val, defaults.num_test, defaults.size) == \
        ("shapes", "data/shapes", 400, 100, 300, 160)
    cs = tool.parse_args(["--dataset", "cityscapes"])
    assert (cs.out, cs.num_train, cs.num_val, cs.num_test, cs.height, cs.width) == \
        ("data/cityscapes_synthetic", 200, 50, 200, 128, 256)
    with pytest.raises(SystemExit):
        tool.parse_args(["--dataset", "cityscapes", "--size", "64"])

    summary = tool.main(["--dataset", "cityscapes", "--out", str(tmp_path / "cs"), "--num-train", "2",
                         "--num-val", "1", "--num-test", "1", "--height", "32", "--width", "64"])
    assert summary["generated"] is True and summary["train"]["images"] == 2
    out = capsys.readouterr().out
    assert "train: 2 images (aachen 1, bremen 1)" in out and "val: 1 images (frankfurt 1)" in out
    assert "test: 1 images (berlin 1)" in out
    assert "road" in out and "%" in out

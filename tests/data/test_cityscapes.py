"""Cityscapes on disk: the label table, labelIds -> labelTrainIds, the synthetic street scenes."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import load_tool
from densekd.data import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    colorize_train_ids,
    convert_label_ids,
    label_ids_to_train_ids,
    make_street_scenes,
)

TRAIN_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
TINY = dict(num_train=6, num_val=2, size=(64, 128), seed=0)
# the Cityscapes names of TINY's files: images dealt over the split's cities in turn
TINY_STEMS = {
    "train": [f"{city}/{city}_{seq:06d}_000019" for seq in range(3) for city in ("aachen", "bremen")],
    "val": [f"frankfurt/frankfurt_{seq:06d}_000019" for seq in range(2)],
}


def _png(path):
    with Image.open(path) as image:
        return image.mode, np.asarray(image)


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


# ---- the label table -------------------------------------------------------------------------

def test_label_table():
    assert len(CITYSCAPES_LABELS) == 35
    by_id = {label.id: label for label in CITYSCAPES_LABELS}
    assert sorted(by_id) == list(range(-1, 34))
    assert by_id[7][:3] == ("road", 7, 0) and by_id[7].color == (128, 64, 128)
    assert by_id[26][:3] == ("car", 26, 13) and by_id[26].color == (0, 0, 142)
    assert by_id[0][:3] == ("unlabeled", 0, 255)
    assert by_id[1].name == "ego vehicle" and by_id[1].train_id == 255
    assert by_id[33][:3] == ("bicycle", 33, 18) and by_id[33].color == (119, 11, 32)
    assert by_id[-1].name == "license plate"
    assert sum(1 for label in CITYSCAPES_LABELS if label.train_id == 255) == 15

    assert CITYSCAPES_CLASSES == TRAIN_CLASSES
    assert len(CITYSCAPES_PALETTE) == 19
    assert CITYSCAPES_PALETTE[0] == (128, 64, 128) and CITYSCAPES_PALETTE[10] == (70, 130, 180)
    assert CITYSCAPES_PALETTE[11] == (220, 20, 60) and CITYSCAPES_PALETTE[18] == (119, 11, 32)


def test_label_table_matches_mmseg():
    pytest.importorskip("mmseg")
    from mmseg.datasets import CityscapesDataset

    assert CITYSCAPES_CLASSES == tuple(CityscapesDataset.METAINFO["classes"])
    assert [list(c) for c in CITYSCAPES_PALETTE] == [list(c) for c in CityscapesDataset.METAINFO["palette"]]


def test_label_ids_to_train_ids():
    label_ids = np.array([[0, 7, 8, 11],
                          [26, 33, 34, 255],
                          [1, 6, 24, 23],
                          [9, 17, 18, 20]], dtype=np.uint8)
    expected = np.array([[255, 0, 1, 2],
                         [13, 18, 255, 255],
                         [255, 255, 11, 10],
                         [255, 5, 255, 7]], dtype=np.uint8)
    out = label_ids_to_train_ids(label_ids)
    assert out.dtype == np.uint8 and out.shape == (4, 4)
    np.testing.assert_array_equal(out, expected)
    # wider integer types, including ids outside the table
    wide = np.array([[-1, 7, 1000], [26, 65535, 21]], dtype=np.int32)
    np.testing.assert_array_equal(label_ids_to_train_ids(wide), [[255, 0, 255], [13, 255, 8]])
    np.testing.assert_array_equal(label_ids_to_train_ids(wide.astype(np.int64)), [[255, 0, 255], [13, 255, 8]])
    with pytest.raises(TypeError):
        label_ids_to_train_ids(np.zeros((2, 2), dtype=np.float32))


def test_colorize_train_ids():
    out = colorize_train_ids(np.array([[0, 13, 255]], dtype=np.uint8))
    np.testing.assert_array_equal(out, [[[128, 64, 128], [0, 0, 142], [0, 0, 0]]])
    out = colorize_train_ids(np.array([[-1, 18, 300]], dtype=np.int32))
    np.testing.assert_array_equal(out, [[[0, 0, 0], [119, 11, 32], [0, 0, 0]]])


# ---- convert_label_ids ---------------------------------------------------------------------

def test_convert_label_ids(tmp_path):
    gt = tmp_path / "gtFine"
    a = gt / "train" / "ulm" / "ulm_000000_000019_gtFine_labelIds.png"
    b = gt / "val" / "lindau" / "lindau_000003_000019_gtFine_labelIds.png"
    _write_png(a, [[7, 7, 26], [0, 23, 21]])
    _write_png(b, [[11, 12, 13], [17, 19, 20]])
    _write_png(gt / "train" / "ulm" / "ulm_000000_000019_gtFine_color.png", np.zeros((2, 3, 3)))
    (gt / "train" / "ulm" / "ulm_000000_000019_gtFine_polygons.json").write_text("{}")

    assert convert_label_ids(gt) == 2
    out_a = a.with_name("ulm_000000_000019_gtFine_labelTrainIds.png")
    out_b = b.with_name("lindau_000003_000019_gtFine_labelTrainIds.png")
    mode, pixels = _png(out_a)
    assert mode == "L" and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, [[0, 0, 13], [255, 10, 8]])
    np.testing.assert_array_equal(_png(out_b)[1], [[2, 3, 4], [5, 6, 7]])
    assert sorted(p.name for p in gt.rglob("*labelTrainIds*")) == sorted([out_a.name, out_b.name])
    assert not list(gt.rglob("*.tmp"))

    # existing outputs are kept unless overwrite
    _write_png(out_a, [[1, 1, 1], [1, 1, 1]])
    assert convert_label_ids(gt) == 0
    np.testing.assert_array_equal(_png(out_a)[1], [[1, 1, 1], [1, 1, 1]])
    out_b.unlink()
    assert convert_label_ids(str(gt)) == 1  # only the missing one
    assert convert_label_ids(gt, overwrite=True) == 2
    np.testing.assert_array_equal(_png(out_a)[1], [[0, 0, 13], [255, 10, 8]])


def test_convert_label_ids_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        convert_label_ids(tmp_path / "nowhere")
    _write_png(tmp_path / "gt" / "x" / "x_000000_000019_gtFine_labelIds.png", np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="single-channel"):
        convert_label_ids(tmp_path / "gt")


# ---- the synthetic street scenes -----------------------------------------------------------

@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes_synthetic")
    summary = make_street_scenes(root, **TINY)
    assert summary["generated"] is True
    return root


def _label_files(root):
    """[(labelIds, labelTrainIds)] arrays of every generated image."""
    out = []
    for split, stems in TINY_STEMS.items():
        for stem in stems:
            base = root / "gtFine" / split / stem
            out.append((_png(f"{base}_gtFine_labelIds.png")[1], _png(f"{base}_gtFine_labelTrainIds.png")[1]))
    return out


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
    assert summary["classes"] == list(TRAIN_CLASSES)
    assert (summary["height"], summary["width"]) == (64, 128)
    assert summary["train"]["images"] == 6 and summary["train"]["cities"] == {"aachen": 3, "bremen": 3}
    assert summary["val"]["images"] == 2 and summary["val"]["cities"] == {"frankfurt": 2}
    meta = json.loads((scenes_root / "street_scenes_meta.json").read_text())
    assert meta["args"] == dict(format_version=1, num_train=6, num_val=2, height=64, width=128, seed=0)
    assert meta["complete"] is True
    # the recorded frequencies are those of the trainIds files on disk
    counts = sum(np.bincount(train.ravel(), minlength=256) for _, train in _label_files(scenes_root))
    total = counts.sum()
    for k, name in enumerate(TRAIN_CLASSES):
        assert summary["class_frequencies"][name] == pytest.approx(counts[k] / total, abs=1e-6)
    assert summary["class_frequencies"]["ignore"] == pytest.approx(counts[255] / total, abs=1e-6)
    assert sum(summary["class_frequencies"].values()) == pytest.approx(1.0, abs=1e-4)


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
    assert len(present) >= 12, sorted(TRAIN_CLASSES[k] for k in present)
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


def test_same_arguments_give_identical_bytes(tmp_path):
    args = dict(num_train=3, num_val=1, size=(64, 128))
    make_street_scenes(tmp_path / "a", seed=5, **args)
    make_street_scenes(tmp_path / "b", seed=5, **args)
    make_street_scenes(tmp_path / "c", seed=6, **args)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 3 * (3 + 1)
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    different = [rel for rel in files if (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()]
    assert len(different) == len(files)  # another seed: every image and label map changes
    # the val images do not depend on how many train images there are
    make_street_scenes(tmp_path / "d", seed=5, num_train=1, num_val=1, size=(64, 128))
    val = "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png"
    assert (tmp_path / "a" / val).read_bytes() == (tmp_path / "d" / val).read_bytes()


def test_reuse_and_regeneration(tmp_path):
    first = make_street_scenes(tmp_path, num_train=4, num_val=1, size=(32, 64), seed=1)
    image = tmp_path / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    stamp = image.stat().st_mtime_ns
    again = make_street_scenes(tmp_path, num_train=4, num_val=1, size=(32, 64), seed=1)
    assert again["generated"] is False and again["train"] == first["train"]
    assert image.stat().st_mtime_ns == stamp

    smaller = make_street_scenes(tmp_path, num_train=2, num_val=1, size=(32, 64), seed=1)
    assert smaller["generated"] is True and smaller["train"]["images"] == 2
    for top, kinds in (("leftImg8bit", 1), ("gtFine", 2)):
        assert len(list((tmp_path / top / "train").rglob("*.png"))) == 2 * kinds
    # a missing file makes the set incomplete: regenerated
    image.unlink()
    assert make_street_scenes(tmp_path, num_train=2, num_val=1, size=(32, 64), seed=1)["generated"] is True
    assert image.is_file()


def test_refuses_a_tree_it_did_not_write(tmp_path):
    _write_png(tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png", [[7]])
    with pytest.raises(ValueError, match="not written by make_street_scenes"):
        make_street_scenes(tmp_path, num_train=1, num_val=1, size=(32, 64))
    assert (tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png").is_file()
    assert not (tmp_path / "street_scenes_meta.json").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_train=0), "num_train must be in"),
    (dict(num_val=-1), "num_val must be in"),
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


def test_mmseg_cityscapes_dataset_reads_the_tree(scenes_root):
    pytest.importorskip("mmseg")
    from mmseg.datasets import CityscapesDataset
    from mmseg.utils import register_all_modules

    register_all_modules()
    for split, count in (("train", 6), ("val", 2)):
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


# ---- the tools -----------------------------------------------------------------------------

def test_prepare_tool_names_the_missing_root(tmp_path):
    missing = tmp_path / "no_cityscapes_here"
    with pytest.raises(SystemExit) as err:
        load_tool("prepare_cityscapes").main(["--root", str(missing)])
    text = str(err.value.code)
    assert str(missing / "gtFine") in text
    assert "gtFine_trainvaltest.zip" in text and "leftImg8bit_trainvaltest.zip" in text


def test_prepare_tool_converts(tmp_path, capsys):
    _write_png(tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelIds.png", [[7, 26]])
    tool = load_tool("prepare_cityscapes")
    assert tool.main(["--root", str(tmp_path)]) == 1
    np.testing.assert_array_equal(
        _png(tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelTrainIds.png")[1], [[0, 13]])
    assert tool.main(["--root", str(tmp_path)]) == 0
    assert "1 already there" in capsys.readouterr().out
    assert tool.main(["--root", str(tmp_path), "--overwrite"]) == 1
    (tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(SystemExit, match="no \\*_gtFine_labelIds.png"):
        tool.main(["--root", str(tmp_path)])


def test_make_demo_data_cityscapes(tmp_path, capsys):
    tool = load_tool("make_demo_data")
    defaults = tool.parse_args([])  # shapes, as before
    assert (defaults.dataset, defaults.out, defaults.num_train, defaults.num_val, defaults.size) == \
        ("shapes", "data/shapes", 400, 100, 160)
    cs = tool.parse_args(["--dataset", "cityscapes"])
    assert (cs.out, cs.num_train, cs.num_val, cs.height, cs.width) == ("data/cityscapes_synthetic", 200, 50, 128, 256)
    with pytest.raises(SystemExit):
        tool.parse_args(["--dataset", "cityscapes", "--size", "64"])

    summary = tool.main(["--dataset", "cityscapes", "--out", str(tmp_path / "cs"), "--num-train", "2",
                         "--num-val", "1", "--height", "32", "--width", "64"])
    assert summary["generated"] is True and summary["train"]["images"] == 2
    out = capsys.readouterr().out
    assert "train: 2 images (aachen 1, bremen 1)" in out and "val: 1 images (frankfurt 1)" in out
    assert "road" in out and "%" in out

"""Cityscapes on disk: the label table, labelIds -> labelTrainIds, the prepare tool."""
import numpy as np
import pytest

from conftest import load_tool, read_png, write_png
from densekd.data import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    colorize_train_ids,
    convert_label_ids,
    label_ids_to_train_ids,
)

TRAIN_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)



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
    write_png(a, [[7, 7, 26], [0, 23, 21]])
    write_png(b, [[11, 12, 13], [17, 19, 20]])
    write_png(gt / "train" / "ulm" / "ulm_000000_000019_gtFine_color.png", np.zeros((2, 3, 3)))
    (gt / "train" / "ulm" / "ulm_000000_000019_gtFine_polygons.json").write_text("{}")

    assert convert_label_ids(gt) == 2
    out_a = a.with_name("ulm_000000_000019_gtFine_labelTrainIds.png")
    out_b = b.with_name("lindau_000003_000019_gtFine_labelTrainIds.png")
    mode, pixels = read_png(out_a)
    assert mode == "L" and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, [[0, 0, 13], [255, 10, 8]])
    np.testing.assert_array_equal(read_png(out_b)[1], [[2, 3, 4], [5, 6, 7]])
    assert sorted(p.name for p in gt.rglob("*labelTrainIds*")) == sorted([out_a.name, out_b.name])
    assert not list(gt.rglob("*.tmp"))

    # existing outputs are kept unless overwrite
    write_png(out_a, [[1, 1, 1], [1, 1, 1]])
    assert convert_label_ids(gt) == 0
    np.testing.assert_array_equal(read_png(out_a)[1], [[1, 1, 1], [1, 1, 1]])
    out_b.unlink()
    assert convert_label_ids(str(gt)) == 1  # only the missing one
    assert convert_label_ids(gt, overwrite=True) == 2
    np.testing.assert_array_equal(read_png(out_a)[1], [[0, 0, 13], [255, 10, 8]])


def test_convert_label_ids_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        convert_label_ids(tmp_path / "nowhere")
    write_png(tmp_path / "gt" / "x" / "x_000000_000019_gtFine_labelIds.png", np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="single-channel"):
        convert_label_ids(tmp_path / "gt")


# ---- the tools -----------------------------------------------------------------------------

def test_prepare_tool_names_the_missing_root(tmp_path):
    missing = tmp_path / "no_cityscapes_here"
    with pytest.raises(SystemExit) as err:
        load_tool("prepare_cityscapes").main(["--root", str(missing)])
    text = str(err.value.code)
    assert str(missing / "gtFine") in text
    assert "gtFine_trainvaltest.zip" in text and "leftImg8bit_trainvaltest.zip" in text


def test_prepare_tool_converts(tmp_path, capsys):
    write_png(tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelIds.png", [[7, 26]])
    tool = load_tool("prepare_cityscapes")
    assert tool.main(["--root", str(tmp_path)]) == 1
    np.testing.assert_array_equal(
        read_png(tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelTrainIds.png")[1], [[0, 13]])
    assert tool.main(["--root", str(tmp_path)]) == 0
    assert "1 already there" in capsys.readouterr().out
    assert tool.main(["--root", str(tmp_path), "--overwrite"]) == 1
    (tmp_path / "gtFine/val/ulm/ulm_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(SystemExit, match="no \\*_gtFine_labelIds.png"):
        tool.main(["--root", str(tmp_path)])

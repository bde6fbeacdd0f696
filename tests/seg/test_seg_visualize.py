"""densekd.seg.visualize and tools/visualize.py's seg / masks modes: label-map colours, ground-truth
paths, per-image mIoU, and both modes end to end on two-iteration runs on tiny street scenes."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import as_argv, load_tool, quick_run_options
from densekd.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from densekd.seg import visualize as vis

TEACHER_CFG = "configs/demo/deeplabv3_teacher_streets.py"
ACAM_CFG = "configs/demo/deeplabv3_acam_streets.py"
SIZE = (64, 128)  # (h, w) of the generated scenes
TOP = 2 * vis.LINE_HEIGHT + 2  # a two-line title strip


# --- pure helpers ----------------------------------------------------------------------------------
def test_colorize_uses_the_palette_and_paints_ignore_and_unknown_labels_black():
    labels = np.array([[0, 1, 255], [18, 19, -1]], dtype=np.int64)
    rgb = vis.colorize_label_map(labels, CITYSCAPES_PALETTE)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    assert tuple(rgb[0, 0]) == (128, 64, 128)  # road
    assert tuple(rgb[0, 1]) == (244, 35, 232)  # sidewalk
    assert tuple(rgb[1, 0]) == (119, 11, 32)  # bicycle
    for y, x in ((0, 2), (1, 1), (1, 2)):
        assert tuple(rgb[y, x]) == (0, 0, 0)
    assert np.array_equal(vis.colorize_label_map(labels.astype(np.uint8)[:1], CITYSCAPES_PALETTE), rgb[:1])
    with pytest.raises(TypeError):
        vis.colorize_label_map(labels.astype(float), CITYSCAPES_PALETTE)


def test_seg_meta_gives_cityscapes_names_and_colours_for_the_demo_configs():
    from densekd.core.config import load_config

    classes, palette = vis.seg_meta(load_config(TEACHER_CFG))
    assert classes == list(CITYSCAPES_CLASSES) and palette == [tuple(c) for c in CITYSCAPES_PALETTE]
    assert vis.seg_meta(None, 19)[0] == list(CITYSCAPES_CLASSES)
    names, colours = vis.seg_meta(None, 3)
    assert names == ["0", "1", "2"] and len(set(colours)) == 3


def test_ground_truth_path_follows_the_cityscapes_layout():
    image = os.path.join("data", "cs", "leftImg8bit", "val", "frankfurt", "frankfurt_000000_000019_leftImg8bit.png")
    assert vis.gt_path_for_image(image) == os.path.join(
        "data", "cs", "gtFine", "val", "frankfurt", "frankfurt_000000_000019_gtFine_labelTrainIds.png")
    # only the layout's own directory changes, not a parent that happens to share the name
    nested = "/x/leftImg8bit/cs/leftImg8bit/train/a/a_000001_000019_leftImg8bit.png"
    assert vis.gt_path_for_image(nested) == "/x/leftImg8bit/cs/gtFine/train/a/a_000001_000019_gtFine_labelTrainIds.png"
    for bad in ("/x/images/a_leftImg8bit.png", "/x/leftImg8bit/val/a/a.png"):
        with pytest.raises(ValueError, match="Cityscapes-layout"):
            vis.gt_path_for_image(bad)


def test_per_image_miou_on_hand_made_maps_matches_the_segmentation_metric():
    from densekd.seg.metrics import SegmentationMetric

    gt = np.array([[0, 0, 1], [1, 255, 255]])
    pred = np.array([[0, 2, 1], [1, 2, 0]])
    # class 0: 1 / (2 + 1 - 1); class 1: 2 / 2; class 2: predicted, never true -> 0
    # (the predictions on ignore pixels count nowhere)
    assert vis.image_miou(pred, gt, 3) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert vis.image_miou(gt, gt, 3) == 1.0  # class 2 absent from both: left out
    assert np.isnan(vis.image_miou(pred, np.full_like(gt, 255), 3))
    metric = SegmentationMetric(num_classes=3, decimals=None)
    sample = {"pred_sem_seg": {"data": torch.as_tensor(pred)[None]}, "gt_sem_seg": {"data": torch.as_tensor(gt)[None]}}
    metric.process(None, [sample])
    assert metric.compute_metrics(metric.results)["mIoU"] == pytest.approx(100 * vis.image_miou(pred, gt, 3))


def test_mask_class_hints_name_the_teacher_channel_each_mask_follows():
    rng = np.random.RandomState(0)
    x = rng.randn(4, 5)
    teacher = np.stack([x, -x + 0.1 * rng.randn(4, 5), rng.randn(4, 5)])
    spatial = np.stack([1 / (1 + np.exp(-teacher[2])), 1 / (1 + np.exp(x)), np.full((4, 5), 0.5)])
    hints = vis.mask_class_hints(spatial, teacher, ["a", "b", "c"])
    assert [h[0] for h in hints[:2]] == ["c", "b"]  # mask 1 is high where channel 0 is low: not 'a'
    assert hints[0][1] > 0.9 and hints[2][1] == 0.0  # a flat mask correlates with nothing
    assert vis.mask_class_hints(spatial, teacher)[0][0] == 2  # no names: the channel index


def test_legend_and_channel_matrix_draw_every_colour():
    legend = np.asarray(vis.legend_strip(CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, 300))
    assert legend.shape[1] == 300 and legend.shape[0] > 2 * vis.LINE_HEIGHT  # wrapped onto several lines
    colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert all(tuple(c) in colours for c in CITYSCAPES_PALETTE) and (0, 0, 0) in colours
    channel = np.linspace(0, 1, 2 * 19).reshape(2, 19)
    matrix = np.asarray(vis.render_channel_matrix(channel, CITYSCAPES_CLASSES, cell=8))
    heat = {tuple(c) for c in vis.heat_colours(channel).reshape(-1, 3)}
    assert heat <= {tuple(c) for c in matrix.reshape(-1, 3)}


# --- end to end ------------------------------------------------------------------------------------
PUBLISHED_FORM = {"distiller.standardize_fused": False, "distiller.whiten_fused": False, "distiller.detach_masks": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, street_root):
    """Tiny street scenes, a 2-iteration teacher and a 2-iteration ACAM run distilled from it."""
    base = tmp_path_factory.mktemp("seg_visualize")
    root = street_root
    h, w = SIZE
    options = {**quick_run_options(root),
               "model.data_preprocessor.size": f"({h},{w})",
               "train_dataloader.dataset.pipeline.3.crop_size": f"({h},{w})"}
    train = load_tool("train").main
    common = ["--devices", "1", "--accelerator", "cpu"]
    train([TEACHER_CFG, "--work-dir", str(base / "teacher"), *common, *as_argv(options)])
    teacher = str(base / "teacher" / "last.ckpt")
    # the published mask form: after 2 iterations the standardised form's masks are still flat (a fresh
    # distiller's attention is near uniform), and this drawing test needs masks that differ
    train([ACAM_CFG, "--work-dir", str(base / "acam"), *common,
           *as_argv({**options, "teacher.checkpoint": teacher, **PUBLISHED_FORM})])
    images = sorted(os.path.join(dirpath, name) for dirpath, _, names in os.walk(os.path.join(root, "leftImg8bit", "val"))
                    for name in names)
    assert len(images) == 2
    return dict(root=root, teacher=teacher, acam=str(base / "acam" / "last.ckpt"), images=images)


def test_seg_mode_draws_image_ground_truth_and_each_model_per_image(runs, tmp_path):
    out = tmp_path / "seg.png"
    load_tool("visualize").main(["--mode", "seg", "--model", "teacher", TEACHER_CFG, runs["teacher"],
                                 "--model", "acam student", ACAM_CFG, runs["acam"],
                                 "--images", *runs["images"], "--out", str(out), "--scale", "1"])
    grid = np.asarray(Image.open(out).convert("RGB"))
    h, w = SIZE
    columns, gap = 4, 2  # image | ground truth | teacher | acam student
    assert grid.shape[1] == columns * w + (columns - 1) * gap
    rows_height = len(runs["images"]) * (TOP + h) + gap
    assert grid.shape[0] > rows_height  # + the legend
    tiles = []
    for i, path in enumerate(runs["images"]):
        y = i * (TOP + h + gap) + TOP
        row = [grid[y:y + h, c * (w + gap):c * (w + gap) + w] for c in range(columns)]
        assert np.array_equal(row[0], np.asarray(Image.open(path).convert("RGB")))
        gt = vis.load_label_map(vis.gt_path_for_image(path))
        assert np.array_equal(row[1], vis.colorize_label_map(gt, CITYSCAPES_PALETTE))
        assert not np.array_equal(row[2], row[1]) and not np.array_equal(row[2], row[3])
        tiles.append(row)
    assert not np.array_equal(tiles[0][1], tiles[1][1])  # each row shows its own image
    legend = grid[rows_height:]
    assert {tuple(c) for c in CITYSCAPES_PALETTE} <= {tuple(c) for c in legend.reshape(-1, 3)}


def test_masks_mode_overlays_each_learned_mask(runs, tmp_path):
    options = {"teacher.checkpoint": runs["teacher"], **PUBLISHED_FORM}  # as it was trained
    module = vis.load_distill_module(ACAM_CFG, runs["acam"], options)
    saved = torch.load(runs["acam"], map_location="cpu", weights_only=True)["state_dict"]
    key = "distiller.pairs.0.spatial.units"
    assert torch.equal(module.state_dict()[key], saved[key])  # the trained masks, not fresh ones
    masks = vis.extract_acam_masks(module, runs["images"][0])
    m = module.distiller.num_masks
    assert masks["spatial"].shape[0] == m and masks["channel"].shape == (m, 19)
    assert masks["teacher"].shape == (19, *masks["spatial"].shape[1:])
    assert masks["ori_shape"] == SIZE
    assert 0 < masks["spatial"].min() and masks["spatial"].max() < 1

    out = tmp_path / "masks.png"
    load_tool("visualize").main(["--mode", "masks", "--config", ACAM_CFG, "--checkpoint", runs["acam"],
                                 "--images", runs["images"][0], "--out", str(out), "--scale", "1",
                                 "--per-row", "5", *as_argv(options)])
    picture = np.asarray(Image.open(out).convert("RGB"))
    h, w = SIZE
    per_row, gap = 5, 2
    mask_rows = -(-(m + 1) // per_row)  # the image tile, then the M masks
    assert picture.shape[0] >= vis.LINE_HEIGHT + 4 + mask_rows * (TOP + h) + (mask_rows - 1) * gap
    assert picture.shape[1] > per_row * w + (per_row - 1) * gap  # + the channel matrix beside
    top = vis.LINE_HEIGHT + 4
    tiles = [picture[top + r * (TOP + h + gap) + TOP:top + r * (TOP + h + gap) + TOP + h,
                     c * (w + gap):c * (w + gap) + w] for r in range(mask_rows) for c in range(per_row)][:m + 1]
    image = np.asarray(Image.open(runs["images"][0]).convert("RGB"))
    assert np.array_equal(tiles[0], image)
    overlays = tiles[1:]
    assert all(not np.array_equal(t, image) for t in overlays)
    assert len({t.tobytes() for t in overlays}) > 1  # the masks differ, and so do their overlays

    with pytest.raises(KeyError, match="distiller"):  # a plain teacher run has no masks
        vis.load_distill_module(ACAM_CFG, runs["teacher"], options)

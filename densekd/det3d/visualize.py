"""Bird's-eye-view pictures of LiDAR detections (``tools/visualize.py --mode bev``).

    gt = ground_truth_boxes(info)                          # (G, 7) LiDAR boxes + labels of one info entry
    tile = draw_bev(points, gt, pred, labels, area)        # PIL image: points by height, boxes with headings
    strip = legend_strip(classes, width)                   # ground truth and each class named in its colour
    render_bev_grid([(name, config, ckpt), ...], scenes)   # a row per scene, a panel per model, one legend
    render_local_graphs(pointdistiller_config, scenes)     # PointDistiller's centres and KNN graphs

The x axis (forward) points up, y (left) to the left, as seen from above the car. Points are coloured
by height (dark low, bright high); ground truth is drawn white, each class's predictions in its
own colour, every box with a line from its centre to its front.
"""
import os

import numpy as np
import torch
from PIL import Image, ImageDraw

from densekd.core.config import config_classes
from densekd.core.module import load_student_for_inference
from densekd.data.kitti import camera_boxes_to_lidar, lidar_box_corners
from ..core.errors import UnknownKey

__all__ = ["box_corners_bev", "height_colours", "ground_truth_boxes", "draw_bev", "legend_strip",
           "load_lidar_detector", "predict_boxes", "render_bev_grid", "render_local_graphs"]

GT_COLOUR = (255, 255, 255)
CLASS_COLOURS = [(255, 90, 90), (80, 200, 255), (255, 200, 40), (160, 255, 120), (220, 120, 255)]
BACKGROUND = (20, 20, 28)
TITLE_HEIGHT = 14


def box_corners_bev(boxes):
    """(N, 7) LiDAR boxes [x, y, z, dx, dy, dz, yaw] -> (N, 4, 2) BEV corners in drawing order, front edge first."""
    return lidar_box_corners(boxes)[:, [6, 4, 0, 2], :2]  # the bottom corners (+,+), (+,-), (-,-), (-,+)


def height_colours(z, low=-2.0, high=1.0):
    """(N,) heights in metres -> (N, 3) uint8 colours from the viridis map (clipped to low..high)."""
    from matplotlib import colormaps

    t = np.clip((np.asarray(z) - low) / (high - low), 0, 1)
    return (colormaps["viridis"](t)[:, :3] * 255).astype(np.uint8)


def ground_truth_boxes(info):
    """One mmdet3d v2 KITTI info entry -> ((G, 7) LiDAR boxes, (G,) labels); DontCare (-1) left out."""
    instances = [i for i in info.get("instances", []) if i["bbox_label_3d"] >= 0]
    if not instances:
        return np.zeros((0, 7)), np.zeros(0, dtype=int)
    boxes = camera_boxes_to_lidar([i["bbox_3d"] for i in instances], info["images"]["CAM2"]["lidar2cam"])
    return boxes, np.array([i["bbox_label_3d"] for i in instances])


def _to_pixels(xy, area, scale):
    """(N, 2) LiDAR x, y -> (N, 2) pixel columns / rows: x up, y left."""
    x_min, y_min, x_max, y_max = area
    cols = (y_max - xy[:, 1]) * scale
    rows = (x_max - xy[:, 0]) * scale + TITLE_HEIGHT
    return np.stack([cols, rows], axis=1)


def draw_bev(points, gt_boxes, pred_boxes, pred_labels, area, scale=8, title=""):
    """A BEV tile of ``area`` = (x_min, y_min, x_max, y_max) metres at ``scale`` px / m, ``title`` on top.

    points (N, >=3); gt_boxes (G, 7); pred_boxes (P, 7) with pred_labels (P,) class indices (their colours
    are named by :func:`legend_strip`).
    """
    x_min, y_min, x_max, y_max = area
    width, height = int(round((y_max - y_min) * scale)), int(round((x_max - x_min) * scale))
    canvas = np.zeros((height + TITLE_HEIGHT, width, 3), np.uint8)
    canvas[:TITLE_HEIGHT] = 255
    canvas[TITLE_HEIGHT:] = BACKGROUND
    points = np.asarray(points)
    inside = (points[:, 0] >= x_min) & (points[:, 0] < x_max) & (points[:, 1] >= y_min) & (points[:, 1] < y_max)
    points = points[inside][np.argsort(points[inside, 2])]  # high points drawn last, on top
    pix = _to_pixels(points[:, :2], area, scale).astype(int)
    pix[:, 0] = pix[:, 0].clip(0, width - 1)
    pix[:, 1] = pix[:, 1].clip(TITLE_HEIGHT, height + TITLE_HEIGHT - 1)
    canvas[pix[:, 1], pix[:, 0]] = height_colours(points[:, 2])
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    draw.text((2, 1), title, fill="black")
    boxes = [(b, GT_COLOUR, 1) for b in np.asarray(gt_boxes).reshape(-1, 7)]
    boxes += [(b, _class_colour(lab), 2) for b, lab in
              zip(np.asarray(pred_boxes).reshape(-1, 7), pred_labels)]
    for box, colour, line in boxes:
        corners = _to_pixels(box_corners_bev(box)[0], area, scale)
        draw.polygon([tuple(c) for c in corners], outline=colour, width=line)
        centre = _to_pixels(np.asarray(box[None, :2]), area, scale)[0]
        front = corners[:2].mean(axis=0)
        draw.line([tuple(centre), tuple(front)], fill=colour, width=line)
    return image


def _class_colour(label):
    return CLASS_COLOURS[int(label) % len(CLASS_COLOURS)]


def legend_strip(classes, width):
    """A dark strip ``width`` px wide that names, right-aligned, the ground truth (white) and each class in
    its colour."""
    strip = Image.new("RGB", (width, TITLE_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    x = width - 4
    for name, colour in reversed([("ground truth", GT_COLOUR)] +
                                 [(name, _class_colour(label)) for label, name in enumerate(classes)]):
        x -= draw.textlength(name) + 6
        draw.text((x, 1), name, fill=colour)
    return strip


def load_lidar_detector(config, checkpoint, cfg_options=None):
    """The student of ``config`` (with ``cfg_options`` overrides) with ``checkpoint``'s weights, ready for
    mmdet3d's ``inference_detector``."""
    model = load_student_for_inference(config, checkpoint, cfg_options)
    model.dataset_meta = dict(classes=config_classes(model.cfg))
    return model


@torch.no_grad()
def predict_boxes(model, lidar_path, score_thr=0.3):
    """((P, 7) LiDAR boxes, (P,) labels) that ``model`` predicts on one ``.bin`` scan, scores >= score_thr."""
    from mmdet3d.apis import inference_detector

    result, _ = inference_detector(model, lidar_path)
    pred = result.pred_instances_3d
    keep = pred.scores_3d >= score_thr
    return pred.bboxes_3d.tensor[keep].cpu().numpy(), pred.labels_3d[keep].cpu().numpy()


def _area(cfg):
    """The BEV area (x_min, y_min, x_max, y_max) of a config: its model's voxelisation range."""
    pcr = cfg.model.data_preprocessor.voxel_layer.point_cloud_range
    return pcr[0], pcr[1], pcr[3], pcr[4]


def _info_for(lidar_path, infos):
    """The info entry of the scan ``.../NNNNNN.bin`` (matched by its 6-digit sample index)."""
    index = int(os.path.splitext(os.path.basename(lidar_path))[0])
    for info in infos:
        if int(info["sample_idx"]) == index:
            return info
    raise UnknownKey(f"scan {lidar_path}: sample {index} is not in the config's test ann_file — "
                     "give scans of the test split (e.g. training/velodyne_reduced/ of ImageSets/val.txt)")


def render_bev_grid(models, scans, score_thr=0.3, scale=8, cfg_options=None):
    """models: [(name, config, checkpoint)]; scans: ``.bin`` paths -> a PIL image, a row per scan,
    a panel per model (ground truth white in every panel, from the first config's test ann_file)."""
    from mmengine.fileio import load

    detectors = [(name, load_lidar_detector(config, checkpoint, cfg_options)) for name, config, checkpoint in models]
    cfg = detectors[0][1].cfg
    evaluator = cfg.test_evaluator[0] if isinstance(cfg.test_evaluator, (list, tuple)) else cfg.test_evaluator
    infos = load(evaluator["ann_file"])["data_list"]
    classes, area = config_classes(cfg), _area(cfg)  # the first model's range for every panel
    rows = []
    for scan in scans:
        points = np.fromfile(scan, dtype=np.float32).reshape(-1, 4)
        gt_boxes, _ = ground_truth_boxes(_info_for(scan, infos))
        tiles = []
        for name, model in detectors:
            boxes, labels = predict_boxes(model, scan, score_thr)
            tiles.append(np.asarray(draw_bev(points, gt_boxes, boxes, labels, area, scale,
                                             f"{name}: {os.path.basename(scan)}")))
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    return Image.fromarray(np.concatenate([np.asarray(legend_strip(classes, grid.shape[1])), grid], axis=0))


GRAPH_COLOURS = [(255, 60, 200), (0, 255, 255), (255, 255, 0), (255, 130, 0), (140, 255, 80), (255, 255, 255)]


def _row_positions(feature, voxels, cfg):
    """BEV (x, y) of each row of a recorded feature: a pillar's centre ((P, C) voxel vectors, from the
    batch's voxel coordinates) or a BEV map cell's centre ((1, C, H, W) over the voxelisation range)."""
    x_min, y_min, x_max, y_max = _area(cfg)
    if feature.dim() == 2:
        size = cfg.model.data_preprocessor.voxel_layer.voxel_size
        coors = voxels["coors"].float()  # (P, 4): scene, z, y, x
        return torch.stack([(coors[:, 3] + 0.5) * size[0] + x_min, (coors[:, 2] + 0.5) * size[1] + y_min], 1)
    height, width = feature.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([(cols.flatten() + 0.5) * (x_max - x_min) / width + x_min,
                        (rows.flatten() + 0.5) * (y_max - y_min) / height + y_min], 1)


@torch.no_grad()
def render_local_graphs(config, scans, examples=5, scale=8, cfg_options=None):
    """PointDistiller's local graphs as the distiller of ``config`` (a LocalGraphDistiller config, its
    teacher from ``teacher.checkpoint``) builds them on each ``.bin`` scan, for the first feature pair: a
    panel per scan with the points, every centre (N per scene) as a grey dot whose brightness is its weight,
    and ``examples`` centres (ringed; from the heaviest to the lightest) with their K neighbours in the
    teacher's feature space as dots of the same colour: neighbours in feature space need not be near in space."""
    from densekd.core.config import load_config
    from densekd.core.module import build_teacher
    from densekd.core.recorder import FeatureRecorder
    from densekd.core.registry import build, use_scope

    cfg = load_config(config, cfg_options)
    use_scope(cfg)
    teacher, distiller = build_teacher(cfg.teacher), build(cfg.distiller)
    path = distiller.teacher_features[0]
    recorder = FeatureRecorder(teacher, [path])
    area = _area(cfg)
    panels = []
    for scan in scans:
        points = np.fromfile(scan, dtype=np.float32).reshape(-1, 4)
        data = teacher.data_preprocessor({"inputs": {"points": [torch.from_numpy(points)]}}, False)
        with recorder:
            teacher.extract_feat(data["inputs"])
        feature = recorder.records[path]
        rows, _, centres, weights, neighbours = distiller.teacher_graphs(feature, data, path)
        xy = _row_positions(feature, data["inputs"].get("voxels"), cfg).numpy()
        image = draw_bev(points, [], [], [], area, scale,
                         f"{os.path.basename(scan)}: {len(centres)} centres of {len(rows)}, K = {neighbours.shape[1]}")
        draw = ImageDraw.Draw(image)
        brightness = (weights / weights.max()).sqrt().numpy()  # sqrt: the many light centres stay visible
        for (col, row), light in zip(_to_pixels(xy[centres.numpy()], area, scale), brightness):
            grey = int(90 + 165 * light)
            draw.rectangle([col - 1, row - 1, col + 1, row + 1], fill=(grey, grey, grey))
        ranked = weights.argsort(descending=True)  # examples from the heaviest centre down to the lightest
        picks = ranked[torch.linspace(0, len(ranked) - 1, min(examples, len(ranked))).long()].tolist()
        for colour, index in zip(GRAPH_COLOURS, picks):
            centre = _to_pixels(xy[centres[index]][None], area, scale)[0]
            for col, row in _to_pixels(xy[neighbours[index].numpy()], area, scale):
                draw.ellipse([col - 2, row - 2, col + 2, row + 2], fill=colour)
            draw.ellipse([centre[0] - 6, centre[1] - 6, centre[0] + 6, centre[1] + 6], outline=colour, width=3)
        panels.append(np.asarray(image))
    return Image.fromarray(np.concatenate(panels, axis=1))

"""KITTI on disk: format round trips, the synthetic LiDAR scenes, and the mmdet3d info / GT-database preparation."""
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import as_made_before_the_test_split, load_tool
from densekd.data import SPLITS, make_lidar_scenes, prepare_kitti, render_frame, scan_objects
from densekd.data.kitti import (
    KITTI_CLASSES, KITTI_REFERENCE_CALIB, camera_boxes_to_lidar, camera_frustum_mask, kitti_difficulty,
    lidar_boxes_to_camera, lidar_to_camera, points_in_lidar_boxes, read_calib, read_label,
    read_velodyne, to_homogeneous, write_calib, write_label, write_velodyne,
)
from densekd.det3d import load_db_infos
from densekd.data.lidar_scenes import GROUND_Z, BoxPart

TINY = dict(num_train=6, num_val=4, num_test=3, seed=0)  # val frame 3 (id 000009) of seed 0 has no objects
EMPTY_FRAME = 9
FRAME_FILES = (("velodyne", ".bin"), ("label_2", ".txt"), ("calib", ".txt"), ("image_2", ".png"), ("planes", ".txt"))
MMDET3D_CONFIG = "configs/_base_/datasets/kitti-3d-3class.py"


@pytest.fixture(scope="session")
def kitti(tmp_path_factory):
    """A tiny synthetic KITTI root, generated and prepared once: (root, generator summary, prepare summary)."""
    root = tmp_path_factory.mktemp("kitti_synthetic")
    scenes = make_lidar_scenes(root, **TINY)
    prepared = prepare_kitti(root)
    return root, scenes, prepared


def _infos(root, split):
    return json.loads((Path(root) / f"kitti_infos_{split}.json").read_text())


def _mmdet3d_scope():
    from mmdet3d.utils import register_all_modules
    from mmengine.registry import init_default_scope

    register_all_modules(init_default_scope=False)
    init_default_scope("mmdet3d")


def _mmcv_points_in_boxes(points, boxes):
    """(N, M) bool by mmcv's CPU op (boxes: LiDAR, bottom centre)."""
    from mmcv.ops import points_in_boxes_cpu

    pts = torch.as_tensor(np.asarray(points)[None, :, :3], dtype=torch.float32)
    bxs = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(1, -1, 7))
    return points_in_boxes_cpu(pts, bxs)[0].numpy().astype(bool)


# ---- the file formats --------------------------------------------------------------------------------

def test_calib_round_trip(tmp_path):
    path = tmp_path / "000000.txt"
    write_calib(path, KITTI_REFERENCE_CALIB)
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines[:7]] == ["P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam",
                                                         "Tr_imu_to_velo"]
    assert len(lines[2].split()) == 13 and len(lines[4].split()) == 10
    calib = read_calib(path)
    for key, value in KITTI_REFERENCE_CALIB.items():
        np.testing.assert_allclose(calib[key], value, rtol=1e-12)
    assert calib["P2"].shape == (3, 4) and calib["R0_rect"].shape == (3, 3)
    path.write_text("\n".join(lines[:5]) + "\n")
    with pytest.raises(ValueError, match="no 'Tr_velo_to_cam:' line"):
        read_calib(path)


def test_label_round_trip(tmp_path):
    objects = [
        dict(type="Car", truncated=0.0, occluded=0, alpha=-1.58, bbox=[587.01, 173.33, 614.12, 200.12],
             dimensions=[1.65, 1.67, 3.64], location=[-0.65, 1.71, 46.7], rotation_y=-1.59),
        dict(type="Pedestrian", truncated=0.27, occluded=2, alpha=0.5, bbox=[0.0, 150.2, 40.5, 300.0],
             dimensions=[1.73, 0.6, 0.8], location=[-8.1, 1.7, 9.31], rotation_y=-0.2),
        dict(type="DontCare", truncated=-1, occluded=-1, alpha=-10, bbox=[503.89, 169.71, 590.61, 190.13],
             dimensions=[-1, -1, -1], location=[-1000, -1000, -1000], rotation_y=-10),
    ]
    path = tmp_path / "000000.txt"
    write_label(path, objects)
    assert path.read_text().splitlines()[0] == \
        "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59"
    assert read_label(path) == objects
    scored = dict(objects[0], score=0.8765)
    write_label(path, [scored])
    assert read_label(path)[0]["score"] == pytest.approx(0.8765)
    write_label(path, [])
    assert path.stat().st_size == 0 and read_label(path) == []
    path.write_text("Car 0.0 0\n")
    with pytest.raises(ValueError, match="15 fields"):
        read_label(path)


def test_velodyne_round_trip(tmp_path):
    points = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    write_velodyne(tmp_path / "a.bin", points)
    assert (tmp_path / "a.bin").stat().st_size == 100 * 16
    np.testing.assert_array_equal(read_velodyne(tmp_path / "a.bin"), points)


def test_box_conversion_and_points_in_boxes_match_mmdet3d():
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes, LiDARInstance3DBoxes

    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform([5, -10, -1.8], [40, 10, -1.6], (20, 3)), rng.uniform(0.5, 4, (20, 3)),
                            rng.uniform(-np.pi, np.pi, (20, 1))], axis=1)
    calib = {key: np.array(value) for key, value in KITTI_REFERENCE_CALIB.items()}
    lidar2cam = lidar_to_camera(calib)
    camera = lidar_boxes_to_camera(boxes, lidar2cam)
    theirs = LiDARInstance3DBoxes(boxes).convert_to(Box3DMode.CAM, lidar2cam)  # float32 inside
    np.testing.assert_allclose(camera, theirs.tensor.numpy(), atol=2e-5)
    back = camera_boxes_to_lidar(camera, lidar2cam)
    theirs_back = CameraInstance3DBoxes(camera).convert_to(Box3DMode.LIDAR, np.linalg.inv(lidar2cam))
    np.testing.assert_allclose(back, theirs_back.tensor.numpy(), atol=2e-5)
    np.testing.assert_allclose(back, boxes, atol=1e-9)
    assert not np.allclose(camera[:, :3], boxes[:, [1, 2, 0]] * [-1, -1, 1], atol=0.05)  # a real, tilted calib
    points = rng.uniform([0, -15, -2.5], [45, 15, 2.5], (20000, 3))
    mine = points_in_lidar_boxes(points, boxes)
    assert mine.sum() > 100
    assert (mine != _mmcv_points_in_boxes(points, boxes)).sum() <= 2  # float32 ties at the faces


# ---- the synthetic scenes ----------------------------------------------------------------------------

def test_layout_and_point_clouds(kitti):
    root, scenes, _ = kitti
    assert scenes["generated"] and [scenes[split]["frames"] for split in SPLITS] == [6, 4, 3]
    assert (root / "ImageSets" / "train.txt").read_text() == "".join(f"{i:06d}\n" for i in range(6))
    assert (root / "ImageSets" / "val.txt").read_text() == "".join(f"{i:06d}\n" for i in range(6, 10))
    assert (root / "ImageSets" / "trainval.txt").read_text().split() == [f"{i:06d}" for i in range(10)]
    # the report split: in testing/ as KITTI's test split, with labels, its frame ids after val's
    assert (root / "ImageSets" / "test.txt").read_text() == "".join(f"{i:06d}\n" for i in range(10, 13))
    for split_dir, ids in (("training", range(10)), ("testing", range(10, 13))):
        for folder, suffix in FRAME_FILES:
            assert sorted(p.name for p in (root / split_dir / folder).iterdir()) == [f"{i:06d}{suffix}" for i in ids]
    with Image.open(root / "training" / "image_2" / "000000.png") as image:
        assert image.size == (1242, 375) and image.mode == "RGB"
    calib = read_calib(root / "training" / "calib" / "000001.txt")
    assert not np.allclose(calib["R0_rect"], np.eye(3), atol=1e-3)
    assert not np.allclose(np.abs(calib["Tr_velo_to_cam"][:, :3]).round(), np.abs(calib["Tr_velo_to_cam"][:, :3]),
                           atol=1e-4)  # a small rotation away from the axis permutation
    np.testing.assert_allclose(calib["P2"], KITTI_REFERENCE_CALIB["P2"])
    points = read_velodyne(root / "training" / "velodyne" / "000001.bin")
    assert 20000 < len(points) < 60000
    assert np.all((points[:, 3] >= 0) & (points[:, 3] <= 1)) and points[:, 3].std() > 0.05
    azimuth = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    assert np.all(points[:, 0] > 0) and np.abs(azimuth).max() <= 50.1
    ground = points[np.hypot(points[:, 0], points[:, 1]) < 12]
    assert np.median(ground[:, 2]) == pytest.approx(GROUND_Z, abs=0.05)  # the sensor is 1.73 m up


def test_generation_is_deterministic(kitti, tmp_path):
    root, _, _ = kitti
    same = make_lidar_scenes(tmp_path / "same", num_train=2, num_val=1, num_test=1, seed=0)
    assert same["generated"]
    # a frame depends on (seed, split, index in split): train 0, 1, val 0 (id 6 in the fixture, 2 here) and
    # test 0 (id 10 in the fixture, 3 here)
    for split_dir, mine, theirs in (("training", 0, 0), ("training", 1, 1), ("training", 6, 2), ("testing", 10, 3)):
        for folder, suffix in FRAME_FILES:
            a = (root / split_dir / folder / f"{mine:06d}{suffix}").read_bytes()
            b = (tmp_path / "same" / split_dir / folder / f"{theirs:06d}{suffix}").read_bytes()
            assert a == b, (folder, mine)
    other = make_lidar_scenes(tmp_path / "other", num_train=2, num_val=1, num_test=1, seed=1)
    assert other["generated"]
    for folder in ("velodyne", "label_2"):
        suffix = ".bin" if folder == "velodyne" else ".txt"
        assert (root / "training" / folder / f"000000{suffix}").read_bytes() != \
            (tmp_path / "other" / "training" / folder / f"000000{suffix}").read_bytes()


def test_regenerating_and_repreparing_is_up_to_date(kitti, tmp_path):
    root, scenes, prepared = kitti
    again = make_lidar_scenes(root, **TINY)
    assert not again["generated"] and again["train"] == scenes["train"]
    prepared_again = prepare_kitti(root)
    assert not prepared_again["generated"] and prepared_again["splits"] == prepared["splits"]
    (tmp_path / "real" / "training").mkdir(parents=True)
    with pytest.raises(ValueError, match="not written by make_lidar_scenes"):
        make_lidar_scenes(tmp_path / "real", num_train=1, num_val=1, num_test=1)


def test_labels_match_the_generator_boxes_and_points(kitti):
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes

    root, _, _ = kitti
    infos = _infos(root, "train")["data_list"]
    matched = 0
    for index, info in enumerate(infos):
        frame = render_frame(0, "train", index)
        cared = [inst for inst in info["instances"] if inst["bbox_label"] >= 0]
        if not cared:
            continue
        lidar2cam = np.array(info["images"]["CAM2"]["lidar2cam"])
        calib = read_calib(root / "training" / "calib" / f"{index:06d}.txt")
        rect, velo_to_cam = to_homogeneous(calib["R0_rect"]), to_homogeneous(calib["Tr_velo_to_cam"])
        np.testing.assert_allclose(lidar2cam, rect @ velo_to_cam)
        boxes = CameraInstance3DBoxes(np.array([inst["bbox_3d"] for inst in cared])).convert_to(
            Box3DMode.LIDAR, np.linalg.inv(lidar2cam)).tensor.numpy()
        inside = _mmcv_points_in_boxes(frame["points"], frame["boxes"])
        for inst, box in zip(cared, boxes):
            k = int(np.argmin(np.linalg.norm(frame["boxes"][:, :3] - box[:3], axis=1)))
            assert frame["names"][k] == KITTI_CLASSES[inst["bbox_label"]]
            np.testing.assert_allclose(box[:3], frame["boxes"][k, :3], atol=0.015)   # 2-decimal label text
            np.testing.assert_allclose(box[3:6], frame["boxes"][k, 3:6], atol=0.006)
            assert abs(math.remainder(box[6] - frame["boxes"][k, 6], 2 * math.pi)) < 0.006
            own = frame["owner"] == k
            assert own.sum() >= 5 and inside[own, k].mean() > 0.95  # the object's points are in its box
            x, _, z = inst["bbox_3d"][:3]
            assert abs(math.remainder(inst["alpha"] - (inst["bbox_3d"][6] - math.atan2(x, z)), 2 * math.pi)) < 0.01
            matched += 1
    assert matched >= 20


def test_occlusion_and_range_physics():
    def car(x, y=0.0):
        return [x, y, GROUND_Z, 3.9, 1.6, 1.56, 0.0]

    alone = scan_objects([car(20)], ["Car"])
    behind = scan_objects([car(20), car(12)], ["Car", "Car"])
    assert alone["points_per_object"][0] > 200
    assert behind["points_per_object"][0] < 0.3 * alone["points_per_object"][0]  # the nearer car hides it
    assert behind["points_per_object"][1] > alone["points_per_object"][0]
    assert behind["rays_visible"][0] < 0.5 * behind["rays_hit"][0]
    assert alone["rays_visible"][0] == alone["rays_hit"][0]
    near, far = scan_objects([car(10)], ["Car"]), scan_objects([car(35)], ["Car"])
    assert far["points_per_object"][0] < 0.25 * near["points_per_object"][0]  # ~ (10 / 35)^2
    ped = [[15, 2, GROUND_Z, 0.8, 0.6, 1.73, 0.3]]
    wall = [BoxPart(8.0, 1.0, GROUND_Z, GROUND_Z + 3.0, 0.2, 3.0, 0.0, 0.3, 0.0)]
    assert scan_objects(ped, ["Pedestrian"])["points_per_object"][0] > 30
    assert scan_objects(ped, ["Pedestrian"], clutter=[wall])["points_per_object"][0] == 0  # clutter occludes
    scan = scan_objects([car(10), car(25, -4), ped[0]], ["Car", "Car", "Pedestrian"])
    boxes = np.array([car(10), car(25, -4), ped[0]])
    for k in range(3):
        own = scan["owner"] == k
        assert points_in_lidar_boxes(scan["points"][own], boxes[k:k + 1]).mean() > 0.95


def test_moderate_share_classes_and_headings(kitti):
    root, scenes, prepared = kitti
    for split in ("train", "val"):
        assert scenes[split]["moderate_fraction"] >= 0.5
    assert set(scenes["train"]["objects"]) == {"Car", "Pedestrian", "Cyclist"}
    instances = [inst for info in _infos(root, "trainval")["data_list"] for inst in info["instances"]]
    cared = [inst for inst in instances if inst["bbox_label"] >= 0]
    heights = np.array([inst["bbox"][3] - inst["bbox"][1] for inst in cared])
    occluded = np.array([inst["occluded"] for inst in cared])
    truncated = np.array([inst["truncated"] for inst in cared])
    moderate = (heights >= 25) & (occluded <= 1) & (truncated <= 0.3)
    assert moderate.mean() >= 0.5
    assert set(occluded.tolist()) >= {0, 1, 2} and truncated.max() > 0.05
    difficulty = [inst["difficulty"] for inst in cared]
    np.testing.assert_array_equal(difficulty, kitti_difficulty(heights, occluded, truncated))
    assert prepared["splits"]["trainval"]["moderate_fraction"] == pytest.approx(np.isin(difficulty, [0, 1]).mean(),
                                                                                abs=1e-4)
    depths = np.array([inst["depth"] for inst in cared])
    assert depths.min() > 3 and depths.max() < 43
    cars = [inst for inst in cared if inst["bbox_label"] == KITTI_CLASSES.index("Car")]
    along_road = np.abs(np.cos(np.array([inst["bbox_3d"][6] for inst in cars]))) < 0.3  # ry ~ +-90 deg: along x
    assert 0.6 <= along_road.mean() < 1.0  # mostly along the road, some crossing


def test_info_files_have_mmdet3d_structure(kitti):
    root, _, _ = kitti
    train = _infos(root, "train")
    assert train["metainfo"]["categories"] == {**{name: i for i, name in enumerate(KITTI_CLASSES)}, "DontCare": -1}
    assert train["metainfo"]["dataset"] == "kitti" and train["metainfo"]["info_version"] == "1.1"
    assert [info["sample_idx"] for info in train["data_list"]] == list(range(6))
    assert len(_infos(root, "trainval")["data_list"]) == 10
    info = train["data_list"][1]
    assert set(info) == {"sample_idx", "images", "lidar_points", "instances", "cam_instances", "plane"}
    assert set(info["images"]) == {"CAM0", "CAM1", "CAM2", "CAM3", "R0_rect"}
    cam2 = info["images"]["CAM2"]
    assert (cam2["img_path"], cam2["height"], cam2["width"]) == ("000001.png", 375, 1242)
    calib = read_calib(root / "training" / "calib" / "000001.txt")
    np.testing.assert_allclose(cam2["cam2img"], to_homogeneous(calib["P2"]))
    np.testing.assert_allclose(cam2["lidar2img"], to_homogeneous(calib["P2"]) @ lidar_to_camera(calib))
    np.testing.assert_allclose(info["images"]["R0_rect"], to_homogeneous(calib["R0_rect"]))
    assert info["lidar_points"]["num_pts_feats"] == 4 and info["lidar_points"]["lidar_path"] == "000001.bin"
    np.testing.assert_allclose(info["lidar_points"]["Tr_velo_to_cam"], to_homogeneous(calib["Tr_velo_to_cam"]))
    # the road plane (camera frame, unit normal up) holds the LiDAR ground z = GROUND_Z
    normal, offset = np.array(info["plane"][:3]), info["plane"][3]
    ground = (lidar_to_camera(calib) @ np.array([[0, 0, GROUND_Z, 1], [30, -8, GROUND_Z, 1]]).T)[:3].T
    assert np.linalg.norm(normal) == pytest.approx(1) and normal[1] < -0.99
    np.testing.assert_allclose(ground @ normal + offset, 0, atol=1e-6)  # written with 7 digits
    labels = read_label(root / "training" / "label_2" / "000001.txt")
    assert len(info["instances"]) == len(labels)
    reduced = read_velodyne(root / "training" / "velodyne_reduced" / "000001.bin")
    keys = {"bbox", "bbox_label", "bbox_3d", "bbox_label_3d", "depth", "center_2d", "num_lidar_pts", "difficulty",
            "truncated", "occluded", "alpha", "score", "index", "group_id"}
    for i, (inst, obj) in enumerate(zip(info["instances"], labels)):
        assert set(inst) == keys and inst["group_id"] == i
        h, w, l = obj["dimensions"]
        assert inst["bbox_3d"] == [*obj["location"], l, h, w, obj["rotation_y"]]  # mmdet3d v2: l, h, w
        if obj["type"] == "DontCare":
            assert (inst["bbox_label"], inst["num_lidar_pts"], inst["index"]) == (-1, -1, -1)
        else:
            box = camera_boxes_to_lidar(np.array(inst["bbox_3d"]), cam2["lidar2cam"])
            assert inst["num_lidar_pts"] == _mmcv_points_in_boxes(reduced, box).sum() > 0
            assert inst["bbox_label"] == inst["bbox_label_3d"] == KITTI_CLASSES.index(obj["type"])
    assert all(rec["bbox_label"] in (0, 1, 2) for rec in info["cam_instances"]["CAM2"])


def test_reduced_cloud_is_the_image_frustum_as_mmdet3d_cuts_it(kitti):
    from mmdet3d.structures.ops.box_np_ops import remove_outside_points

    root, _, _ = kitti
    for index in (0, 7):
        points = read_velodyne(root / "training" / "velodyne" / f"{index:06d}.bin")
        calib = read_calib(root / "training" / "calib" / f"{index:06d}.txt")
        reduced = read_velodyne(root / "training" / "velodyne_reduced" / f"{index:06d}.bin")
        rect, velo_to_cam, p2 = (to_homogeneous(calib[key]) for key in ("R0_rect", "Tr_velo_to_cam", "P2"))
        theirs = remove_outside_points(points, rect, velo_to_cam, p2, (375, 1242))
        np.testing.assert_array_equal(reduced, theirs)
        assert 0.2 < len(reduced) / len(points) < 0.8
        np.testing.assert_array_equal(reduced, points[camera_frustum_mask(points, calib, (375, 1242))])


def test_empty_frame(kitti):
    root, scenes, _ = kitti
    assert scenes["val"]["empty_frames"] == 1
    assert (root / "training" / "label_2" / f"{EMPTY_FRAME:06d}.txt").stat().st_size == 0
    info = next(i for i in _infos(root, "val")["data_list"] if i["sample_idx"] == EMPTY_FRAME)
    assert info["instances"] == [] and info["cam_instances"] == {"CAM2": []}
    assert len(read_velodyne(root / "training" / "velodyne_reduced" / f"{EMPTY_FRAME:06d}.bin")) > 5000


def test_gt_database(kitti):
    root, _, prepared = kitti
    db_infos = json.loads((root / "kitti_dbinfos_train.json").read_text())
    instances = [inst for info in _infos(root, "train")["data_list"] for inst in info["instances"]
                 if inst["bbox_label"] >= 0]
    assert sum(len(v) for v in db_infos.values()) == len(instances)
    assert {name: len(v) for name, v in db_infos.items()} == prepared["gt_database"]
    group_ids = [entry["group_id"] for entries in db_infos.values() for entry in entries]
    assert sorted(group_ids) == list(range(len(group_ids)))
    for name, entries in db_infos.items():
        for entry in entries:
            assert set(entry) == {"name", "path", "image_idx", "gt_idx", "box3d_lidar", "num_points_in_gt",
                                  "difficulty", "group_id", "score"}
            assert entry["name"] == name
            assert entry["path"] == f"kitti_gt_database/{entry['image_idx']}_{name}_{entry['gt_idx']}.bin"
            points = read_velodyne(root / entry["path"])
            assert len(points) == entry["num_points_in_gt"]
            box = np.array(entry["box3d_lidar"])
            shifted = points.copy()
            shifted[:, :3] += box[:3]  # stored relative to the box's bottom centre, as mmdet3d does
            grown = box + [0, 0, -1e-3, 2e-3, 2e-3, 2e-3, 0]
            assert points_in_lidar_boxes(shifted, grown[None]).all()
    loaded = load_db_infos(root / "kitti_dbinfos_train.json", classes=("Car", "Van"))
    assert loaded["Van"] == [] and loaded["Car"][0]["box3d_lidar"].dtype == np.float32


# ---- mmdet3d reads it --------------------------------------------------------------------------------

def _kitti_train_dataset(root):
    """mmdet3d's KittiDataset with the standard 3-class training pipeline, pointed at ``root``'s JSON files."""
    import mmdet3d
    from mmdet3d.registry import DATASETS
    from mmengine.config import Config

    _mmdet3d_scope()
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), ".mim", MMDET3D_CONFIG))
    dataset = cfg.train_dataloader.dataset.dataset
    dataset.update(data_root=f"{root}/", ann_file="kitti_infos_train.json")
    object_sample = next(t for t in dataset.pipeline if t["type"] == "ObjectSample")
    object_sample.db_sampler.update(type="JsonDataBaseSampler", data_root=f"{root}/",
                                    info_path=f"{root}/kitti_dbinfos_train.json")
    return DATASETS.build(dataset), dataset.pipeline


def test_kitti_dataset_with_standard_pipeline_and_object_sample(kitti, restore_scope):
    from mmcv.transforms import Compose
    from mmdet3d.registry import TRANSFORMS

    root, _, _ = kitti
    dataset, pipeline = _kitti_train_dataset(root)
    assert len(dataset) == 6
    for index in range(3):
        sample = dataset[index]
        labels = sample["data_samples"].gt_instances_3d.labels_3d
        assert sample["inputs"]["points"].shape[1] == 4 and len(sample["inputs"]["points"]) > 5000
        assert len(labels) > 0 and set(labels.tolist()) <= {0, 1, 2}
    np.random.seed(0)
    loading = Compose([TRANSFORMS.build(t) for t in pipeline[:2]])
    object_sample = TRANSFORMS.build(pipeline[2])
    info = dataset.get_data_info(1)
    before = loading(info)
    num_boxes, num_points = len(before["gt_labels_3d"]), len(before["points"])
    after = object_sample(dict(before))
    added = len(after["gt_labels_3d"]) - num_boxes
    assert added > 0 and len(after["gt_bboxes_3d"]) == num_boxes + added
    assert set(after["gt_labels_3d"][num_boxes:].tolist()) <= {0, 1, 2}
    pasted = _mmcv_points_in_boxes(after["points"].tensor.numpy(), after["gt_bboxes_3d"].tensor.numpy()[num_boxes:])
    assert (pasted.sum(axis=0) >= 5).all()  # every pasted box brought its database points (>= min points)
    assert len(after["points"]) != num_points


def test_val_dataset_and_metric_read_the_infos(kitti, restore_scope):
    import mmdet3d
    from mmdet3d.evaluation import KittiMetric
    from mmdet3d.registry import DATASETS
    from mmengine.config import Config

    root, _, _ = kitti
    _mmdet3d_scope()
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), ".mim", MMDET3D_CONFIG))
    cfg.val_dataloader.dataset.update(data_root=f"{root}/", ann_file="kitti_infos_val.json")
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(dataset) == 4
    sample = dataset[3]  # the empty frame
    assert len(sample["data_samples"].eval_ann_info["gt_labels_3d"]) == 0
    metric = KittiMetric(ann_file=str(root / "kitti_infos_val.json"))
    annos = metric.convert_annos_to_kitti_annos(_infos(root, "val"))
    labels = read_label(root / "training" / "label_2" / "000006.txt")
    first = annos[0]["kitti_annos"]
    assert list(first["name"]) == [obj["type"] for obj in labels]
    np.testing.assert_allclose(first["dimensions"], [[o["dimensions"][2], *o["dimensions"][:2]] for o in labels])


# ---- errors and the command lines --------------------------------------------------------------------

def test_missing_dataset_says_what_to_download(tmp_path):
    missing = tmp_path / "kitti"
    with pytest.raises(FileNotFoundError) as err:
        prepare_kitti(missing)
    message = str(err.value)
    assert str(missing) in message and "not found" in message
    for part in ("data_object_velodyne.zip", "data_object_label_2.zip", "data_object_calib.zip",
                 "data_object_image_2.zip", "ImageSets", "cvlibs.net"):
        assert part in message
    (missing / "training" / "velodyne").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="lacks .*label_2.*calib.*image_2.*ImageSets/train.txt"):
        prepare_kitti(missing)
    with pytest.raises(SystemExit, match="prepare_kitti: KITTI root .* lacks"):
        load_tool("prepare_kitti").main(["--root", str(missing)])


def test_missing_frame_file_names_it(kitti, tmp_path):
    root, _, _ = kitti
    copy = tmp_path / "copy"
    shutil.copytree(root / "training", copy / "training", ignore=shutil.ignore_patterns("velodyne_reduced"))
    shutil.copytree(root / "ImageSets", copy / "ImageSets")
    (copy / "training" / "calib" / "000004.txt").unlink()
    with pytest.raises(FileNotFoundError, match="000004.txt not found, but frame 000004 is listed in .*train.txt"):
        prepare_kitti(copy)


def test_prepare_cli_reports_up_to_date(kitti, capsys):
    root, _, _ = kitti
    summary = load_tool("prepare_kitti").main(["--root", str(root)])
    out = capsys.readouterr().out
    assert not summary["generated"] and "already up to date" in out and "GT database" in out


def test_make_demo_data_kitti(tmp_path, capsys):
    tool = load_tool("make_demo_data")
    out = tmp_path / "kitti_demo"
    result = tool.main(["--dataset", "kitti", "--out", str(out), "--num-train", "2", "--num-val", "1",
                        "--num-test", "2", "--max-range", "30"])
    text = capsys.readouterr().out
    assert result["generated"] and result["prepared"]["generated"] and "moderate" in text
    moderate = result["test"]["moderate"]
    assert f"test: 2 frames" in text and ", ".join(f"{name} {n}" for name, n in sorted(moderate.items())) in text
    for name in ("kitti_infos_train.json", "kitti_infos_val.json", "kitti_infos_test.json", "kitti_dbinfos_train.json"):
        assert (out / name).is_file()
    depths = [inst["depth"] for info in _infos(out, "trainval")["data_list"] for inst in info["instances"]
              if inst["bbox_label"] >= 0]
    assert depths and max(depths) < 33
    defaults = tool.parse_args(["--dataset", "kitti"])
    assert (defaults.out, defaults.num_train, defaults.num_val, defaults.num_test) == \
        ("data/kitti_synthetic", 200, 80, 300)
    with pytest.raises(SystemExit):
        tool.parse_args(["--max-range", "30"])  # kitti only


# ---- the report split --------------------------------------------------------------------------------

def test_test_split_is_disjoint_from_train_and_val(kitti):
    """The report split's frames have their own ids and files, and none is a train or val frame."""
    root, scenes, prepared = kitti
    ids = {split: (root / "ImageSets" / f"{split}.txt").read_text().split() for split in SPLITS}
    assert not set(ids["test"]) & (set(ids["train"]) | set(ids["val"]))
    clouds = {split: [read_velodyne(root / ("testing" if split == "test" else "training") / "velodyne" / f"{i}.bin")
                      for i in ids[split]] for split in SPLITS}
    for cloud in clouds["test"]:
        assert not any(len(cloud) == len(other) and np.array_equal(cloud, other)
                       for other in clouds["train"] + clouds["val"])
    assert len(_infos(root, "trainval")["data_list"]) == scenes["train"]["frames"] + scenes["val"]["frames"]
    assert prepared["splits"]["test"]["frames"] == 3


def test_test_infos_are_labelled_and_read_as_kitti(kitti, restore_scope):
    """prepare_kitti writes kitti_infos_test.json with the test frames' annotations (testing/label_2), and
    mmdet3d's KittiDataset reads them from testing/ as it reads val from training/."""
    import mmdet3d
    from mmdet3d.registry import DATASETS
    from mmengine.config import Config

    root, scenes, prepared = kitti
    infos = _infos(root, "test")["data_list"]
    assert [info["sample_idx"] for info in infos] == [10, 11, 12]
    labelled = 0
    for info in infos:
        labels = read_label(root / "testing" / "label_2" / f"{info['sample_idx']:06d}.txt")
        assert [KITTI_CLASSES[i["bbox_label"]] if i["bbox_label"] >= 0 else "DontCare" for i in info["instances"]] == \
            [obj["type"] for obj in labels]
        reduced = read_velodyne(root / "testing" / "velodyne_reduced" / f"{info['sample_idx']:06d}.bin")
        assert len(reduced) > 5000
        labelled += len(labels)
    assert labelled > 0
    moderate = {}
    for inst in (inst for info in infos for inst in info["instances"] if inst["bbox_label"] >= 0):
        name = KITTI_CLASSES[inst["bbox_label"]]
        moderate[name] = moderate.get(name, 0) + int(inst["difficulty"] in (0, 1))
    assert prepared["splits"]["test"]["moderate"] == moderate and sum(moderate.values()) > 0

    _mmdet3d_scope()
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), ".mim", MMDET3D_CONFIG))
    cfg.test_dataloader.dataset.update(data_root=f"{root}/", ann_file="kitti_infos_test.json",
                                       data_prefix=dict(pts="testing/velodyne_reduced"))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 3
    sample = dataset[0]
    assert sample["data_samples"].lidar_path.endswith("testing/velodyne_reduced/000010.bin")
    assert len(sample["data_samples"].eval_ann_info["gt_labels_3d"]) == \
        sum(inst["bbox_label"] >= 0 for inst in infos[0]["instances"])


def test_adding_the_test_split_keeps_train_and_val(tmp_path):
    """A root made before there was a test split gets it added: the training/ frames are not rewritten, the
    test frames are those a fresh generation writes, and prepare_kitti then writes their infos."""
    args = dict(num_train=2, num_val=1, num_test=2, seed=2)
    fresh = make_lidar_scenes(tmp_path / "fresh", **args)
    old = tmp_path / "old"
    make_lidar_scenes(old, **args)
    as_made_before_the_test_split(old, "lidar_scenes_meta.json", [old / "testing", old / "ImageSets" / "test.txt"])
    prepare_kitti(old)
    assert not (old / "kitti_infos_test.json").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (old / "training").rglob("*") if p.is_file()}

    added = make_lidar_scenes(old, **args)
    assert added["generated"] and added["test"] == fresh["test"] and added["train"] == fresh["train"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    for folder, suffix in FRAME_FILES:
        for frame_id in (3, 4):
            name = f"testing/{folder}/{frame_id:06d}{suffix}"
            assert (old / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert (old / "ImageSets" / "test.txt").read_text() == "000003\n000004\n"
    assert prepare_kitti(old)["splits"]["test"]["frames"] == 2
    assert make_lidar_scenes(old, **args)["generated"] is False


def test_demo_configs_tune_on_val_and_report_on_test(restore_scope):
    from densekd.core.config import load_config

    cfg = load_config("configs/demo/pointpillars_student_lidar.py")
    for split, folder in (("val", "training"), ("test", "testing")):
        dataset = cfg[f"{split}_dataloader"].dataset
        assert (dataset.data_root, dataset.ann_file, dataset.data_prefix.pts) == \
            ("data/kitti_synthetic/", f"kitti_infos_{split}.json", f"{folder}/velodyne_reduced")
        assert cfg[f"{split}_evaluator"].ann_file == f"data/kitti_synthetic/kitti_infos_{split}.json"
    real = load_config("configs/det3d/pointpillars_kitti_3class.py")  # real KITTI: its test labels are withheld
    assert real.test_dataloader.dataset.ann_file == real.val_dataloader.dataset.ann_file == "kitti_infos_val.json"
    assert real.test_evaluator.ann_file == real.val_evaluator.ann_file

"""Synthetic datasets written in the real on-disk formats."""
from densekd.data.cityscapes import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    colorize_train_ids,
    convert_label_ids,
    label_ids_to_train_ids,
)
from densekd.data.kitti import (
    KITTI_3D_CLASSES,
    KITTI_CLASSES,
    camera_boxes_to_lidar,
    lidar_boxes_to_camera,
    prepare_kitti,
    read_calib,
    read_label,
    read_velodyne,
    write_calib,
    write_label,
    write_velodyne,
)
from densekd.data.lidar_scenes import make_lidar_scenes, render_frame, scan_objects
from densekd.data.shapes import SHAPES_CLASSES, make_shapes_coco
from densekd.data.street_scenes import make_street_scenes
from densekd.data.synthetic import SPLITS

__all__ = [
    "CITYSCAPES_CLASSES", "CITYSCAPES_LABELS", "CITYSCAPES_PALETTE", "SHAPES_CLASSES",
    "colorize_train_ids", "convert_label_ids", "label_ids_to_train_ids", "make_shapes_coco",
    "make_street_scenes", "SPLITS",
    "KITTI_CLASSES", "KITTI_3D_CLASSES", "camera_boxes_to_lidar", "lidar_boxes_to_camera",
    "make_lidar_scenes", "prepare_kitti", "read_calib", "read_label", "read_velodyne",
    "render_frame", "scan_objects", "write_calib", "write_label", "write_velodyne",
]

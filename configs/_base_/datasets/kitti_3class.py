# KITTI 3D object detection, 3 classes, in mmdet3d's own layout and pipeline (its
# _base_/datasets/kitti-3d-3class.py), with densekd's JSON info files instead of pickles. The
# pipelines read `point_cloud_range`, `db_sampler` and `data_root` from this file: a model config that
# changes them restates the pipeline, as mmdet3d's own PointPillars config does.
default_scope = 'mmdet3d'
custom_imports = dict(imports=['densekd'], allow_failed_imports=False)
dataset_type = 'KittiDataset'
data_root = 'data/kitti/'
data_prepare = ('python tools/prepare_kitti.py --root data/kitti  (after unzipping the KITTI 3D object '
                'velodyne, label_2, calib and image_2 zips and the ImageSets split files there)')
class_names = ['Pedestrian', 'Cyclist', 'Car']
metainfo = dict(classes=class_names)
point_cloud_range = [0, -40, -3, 70.4, 40, 1]
input_modality = dict(use_lidar=True, use_camera=False)
points_loader = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4)
db_sampler = dict(
    type='JsonDataBaseSampler',  # mmdet3d's DataBaseSampler reading densekd's JSON GT database
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.json',  # the GT database that prepare_kitti.py writes
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Car=5, Pedestrian=10, Cyclist=10)),
    classes=class_names,
    sample_groups=dict(Car=12, Pedestrian=6, Cyclist=6),
    points_loader=points_loader)
train_pipeline = [
    points_loader,
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler),
    dict(type='ObjectNoise', num_try=100, translation_std=[1.0, 1.0, 0.5], global_rot_range=[0.0, 0.0],
         rot_range=[-0.78539816, 0.78539816]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.78539816, 0.78539816], scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])]
test_pipeline = [
    points_loader,
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points'])]
eval_dataset = dict(
    type=dataset_type, data_root=data_root, data_prefix=dict(pts='training/velodyne_reduced'),
    ann_file='kitti_infos_val.json', pipeline=test_pipeline, modality=input_modality, test_mode=True,
    metainfo=metainfo, box_type_3d='LiDAR')
train_dataloader = dict(
    batch_size=6, num_workers=4,
    dataset=dict(type='RepeatDataset', times=2, dataset=dict(
        type=dataset_type, data_root=data_root, data_prefix=dict(pts='training/velodyne_reduced'),
        ann_file='kitti_infos_train.json', pipeline=train_pipeline, modality=input_modality,
        test_mode=False, metainfo=metainfo, box_type_3d='LiDAR')))
val_dataloader = dict(batch_size=1, num_workers=1, dataset=eval_dataset)
test_dataloader = val_dataloader
# mmdet3d's KittiMetric; densekd gives it an exact rotated IoU on CPU and GPU (densekd/det3d/compat.py)
val_evaluator = dict(type='KittiMetric', ann_file=data_root + 'kitti_infos_val.json', metric='bbox')
test_evaluator = val_evaluator

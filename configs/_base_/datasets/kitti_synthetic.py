# The 3D demo data: synthetic LiDAR scenes in the KITTI layout (tools/make_demo_data.py --dataset kitti),
# read by mmdet3d's KittiDataset / KittiMetric exactly as real KITTI. A 41 x 41 m area ahead of the
# car (KITTI's is 70 x 80 m) so that CPU training takes minutes; mmdet3d's PointPillars pipeline.
_base_ = ['./kitti_3class.py']
data_root = 'data/kitti_synthetic/'
data_prepare = 'python tools/make_demo_data.py --dataset kitti'
class_names = {{_base_.class_names}}
point_cloud_range = [0, -20.48, -3, 40.96, 20.48, 1]
db_sampler = dict(
    type='JsonDataBaseSampler',  # mmdet3d's DataBaseSampler reading densekd's JSON GT database
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.json',
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Car=5, Pedestrian=5, Cyclist=5)),
    classes=class_names,
    sample_groups=dict(Car=8, Pedestrian=6, Cyclist=6),
    points_loader={{_base_.points_loader}})
train_pipeline = [
    {{_base_.points_loader}},
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.39269908, 0.39269908], scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])]
test_pipeline = [
    {{_base_.points_loader}},
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points'])]
train_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(
    _delete_=True, type={{_base_.dataset_type}}, data_root=data_root,
    data_prefix=dict(pts='training/velodyne_reduced'), ann_file='kitti_infos_train.json',
    pipeline=train_pipeline, modality={{_base_.input_modality}}, test_mode=False,
    metainfo={{_base_.metainfo}}, box_type_3d='LiDAR'))
# val: the tuning split (validation during training, every choice of settings), in training/ as in KITTI
val_dataloader = dict(batch_size=1, num_workers=0, dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.json')
# test: the report split, touched only by final runs (tools/test.py); in testing/ as KITTI's test split, labelled
test_dataloader = dict(batch_size=1, num_workers=0, dataset=dict(
    data_root=data_root, pipeline=test_pipeline, data_prefix=dict(pts='testing/velodyne_reduced'),
    ann_file='kitti_infos_test.json'))
test_evaluator = dict(ann_file=data_root + 'kitti_infos_test.json')

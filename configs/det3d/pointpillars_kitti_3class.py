# PointPillars on KITTI, 3 classes: mmdet3d's model and dataset, with the range, GT sampling,
# pipeline (no per-object noise; objects dropped on the road plane: training/planes/ is needed), lr
# 0.001, clipping 35 and schedule of its pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py:
# 80 epochs of the twice repeated 3712-scene train split at batch 48 = 12373 iterations.
_base_ = ['mmdet3d::_base_/models/pointpillars_hv_secfpn_kitti.py', '../_base_/datasets/kitti_3class.py',
          '../_base_/schedules/det3d_cyclic.py']
point_cloud_range = [0, -39.68, -3, 69.12, 39.68, 1]
db_sampler = dict(
    type='JsonDataBaseSampler',  # mmdet3d's DataBaseSampler reading densekd's JSON GT database
    data_root={{_base_.db_sampler.data_root}},
    info_path={{_base_.db_sampler.info_path}},
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Car=5, Pedestrian=5, Cyclist=5)),
    classes={{_base_.class_names}},
    sample_groups=dict(Car=15, Pedestrian=15, Cyclist=15),
    points_loader={{_base_.points_loader}})
train_pipeline = [
    {{_base_.points_loader}},
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler, use_ground_plane=True),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.78539816, 0.78539816], scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])]
test_pipeline = [
    {{_base_.points_loader}},
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points'])]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.001), clip_grad=dict(max_norm=35))
train_cfg = dict(_delete_=True, max_iters=12373, val_interval=1547, checkpoint_interval=1547, log_interval=50,
                 best_metric='Car_3D_AP40_moderate')

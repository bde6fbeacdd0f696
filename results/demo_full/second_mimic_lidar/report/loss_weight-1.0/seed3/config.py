class_names = [
    'Pedestrian',
    'Cyclist',
    'Car',
]
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'densekd',
    ])
data_prepare = 'python tools/make_demo_data.py --dataset kitti'
data_root = 'data/kitti_synthetic/'
dataset_type = 'KittiDataset'
db_sampler = dict(
    classes=[
        'Pedestrian',
        'Cyclist',
        'Car',
    ],
    data_root='data/kitti_synthetic/',
    info_path='data/kitti_synthetic/kitti_dbinfos_train.json',
    points_loader=dict(
        coord_type='LIDAR', load_dim=4, type='LoadPointsFromFile', use_dim=4),
    prepare=dict(
        filter_by_difficulty=[
            -1,
        ],
        filter_by_min_points=dict(Car=5, Cyclist=5, Pedestrian=5)),
    rate=1.0,
    sample_groups=dict(Car=8, Cyclist=6, Pedestrian=6),
    type='JsonDataBaseSampler')
default_scope = 'mmdet3d'
distiller = dict(
    adapter=dict(type='ConvAdapter'),
    channels=[
        (
            16,
            64,
        ),
        (
            32,
            128,
        ),
    ],
    loss=dict(type='FeatureMSELoss'),
    loss_weight=1.0,
    student_features=[
        'backbone[0]',
        'backbone[1]',
    ],
    teacher_features=[
        'backbone[0]',
        'backbone[1]',
    ],
    type='FeatureMimicDistiller')
eval_dataset = dict(
    ann_file='kitti_infos_val.json',
    box_type_3d='LiDAR',
    data_prefix=dict(pts='training/velodyne_reduced'),
    data_root='data/kitti/',
    metainfo=dict(classes=[
        'Pedestrian',
        'Cyclist',
        'Car',
    ]),
    modality=dict(use_camera=False, use_lidar=True),
    pipeline=[
        dict(
            coord_type='LIDAR',
            load_dim=4,
            type='LoadPointsFromFile',
            use_dim=4),
        dict(
            point_cloud_range=[
                0,
                -40,
                -3,
                70.4,
                40,
                1,
            ],
            type='PointsRangeFilter'),
        dict(keys=[
            'points',
        ], type='Pack3DDetInputs'),
    ],
    test_mode=True,
    type='KittiDataset')
input_modality = dict(use_camera=False, use_lidar=True)
lr_schedule = dict(
    min_ratio=0.0001, peak_ratio=10.0, policy='cyclic', up_fraction=0.4)
metainfo = dict(classes=[
    'Pedestrian',
    'Cyclist',
    'Car',
])
model = dict(
    _scope_='mmdet3d',
    backbone=dict(
        in_channels=32,
        layer_nums=[
            5,
            5,
        ],
        layer_strides=[
            1,
            2,
        ],
        out_channels=[
            16,
            32,
        ],
        type='SECOND'),
    bbox_head=dict(
        anchor_generator=dict(
            ranges=[
                [
                    0,
                    -20.48,
                    -0.6,
                    40.96,
                    20.48,
                    -0.6,
                ],
                [
                    0,
                    -20.48,
                    -0.6,
                    40.96,
                    20.48,
                    -0.6,
                ],
                [
                    0,
                    -20.48,
                    -1.78,
                    40.96,
                    20.48,
                    -1.78,
                ],
            ],
            reshape_out=False,
            rotations=[
                0,
                1.57,
            ],
            sizes=[
                [
                    0.8,
                    0.6,
                    1.73,
                ],
                [
                    1.76,
                    0.6,
                    1.73,
                ],
                [
                    3.9,
                    1.6,
                    1.56,
                ],
            ],
            type='Anchor3DRangeGenerator'),
        bbox_coder=dict(type='DeltaXYZWLHRBBoxCoder'),
        diff_rad_by_sin=True,
        feat_channels=64,
        in_channels=64,
        loss_bbox=dict(
            beta=0.1111111111111111,
            loss_weight=2.0,
            type='mmdet.SmoothL1Loss'),
        loss_cls=dict(
            alpha=0.25,
            gamma=2.0,
            loss_weight=1.0,
            type='mmdet.FocalLoss',
            use_sigmoid=True),
        loss_dir=dict(
            loss_weight=0.2, type='mmdet.CrossEntropyLoss', use_sigmoid=False),
        num_classes=3,
        type='Anchor3DHead',
        use_direction_classifier=True),
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=5,
            max_voxels=(
                12000,
                16000,
            ),
            point_cloud_range=[
                0,
                -20.48,
                -3,
                40.96,
                20.48,
                1,
            ],
            voxel_size=[
                0.08,
                0.08,
                0.1,
            ])),
    middle_encoder=dict(
        base_channels=2,
        encoder_channels=(
            (2, ),
            (
                4,
                4,
                4,
            ),
            (
                8,
                8,
                8,
            ),
            (
                8,
                8,
                8,
            ),
        ),
        in_channels=4,
        order=(
            'conv',
            'norm',
            'act',
        ),
        output_channels=16,
        sparse_shape=[
            41,
            512,
            512,
        ],
        type='SparseEncoder'),
    neck=dict(
        in_channels=[
            16,
            32,
        ],
        out_channels=[
            32,
            32,
        ],
        type='SECONDFPN',
        upsample_strides=[
            1,
            2,
        ]),
    test_cfg=dict(
        max_num=50,
        min_bbox_size=0,
        nms_across_levels=False,
        nms_pre=100,
        nms_thr=0.01,
        score_thr=0.1,
        use_rotate_nms=True),
    train_cfg=dict(
        allowed_border=0,
        assigner=[
            dict(
                ignore_iof_thr=-1,
                iou_calculator=dict(type='BboxOverlapsNearest3D'),
                min_pos_iou=0.2,
                neg_iou_thr=0.2,
                pos_iou_thr=0.35,
                type='Max3DIoUAssigner'),
            dict(
                ignore_iof_thr=-1,
                iou_calculator=dict(type='BboxOverlapsNearest3D'),
                min_pos_iou=0.2,
                neg_iou_thr=0.2,
                pos_iou_thr=0.35,
                type='Max3DIoUAssigner'),
            dict(
                ignore_iof_thr=-1,
                iou_calculator=dict(type='BboxOverlapsNearest3D'),
                min_pos_iou=0.45,
                neg_iou_thr=0.45,
                pos_iou_thr=0.6,
                type='Max3DIoUAssigner'),
        ],
        debug=False,
        pos_weight=-1),
    type='VoxelNet',
    voxel_encoder=dict(type='HardSimpleVFE'))
optim_wrapper = dict(
    clip_grad=dict(max_norm=10, norm_type=2),
    optimizer=dict(
        betas=(
            0.95,
            0.99,
        ), lr=0.0018, type='AdamW', weight_decay=0.01))
param_scheduler = None
point_cloud_range = [
    0,
    -20.48,
    -3,
    40.96,
    20.48,
    1,
]
points_loader = dict(
    coord_type='LIDAR', load_dim=4, type='LoadPointsFromFile', use_dim=4)
seed = 3
stages = [
    'backbone[0]',
    'backbone[1]',
]
teacher = dict(
    checkpoint='work_dirs/demo_full/second_teacher/last.ckpt',
    config='configs/demo/second_teacher_lidar.py')
test_dataloader = dict(
    batch_size=1,
    dataset=dict(
        ann_file='kitti_infos_test.json',
        box_type_3d='LiDAR',
        data_prefix=dict(pts='testing/velodyne_reduced'),
        data_root='data/kitti_synthetic/',
        metainfo=dict(classes=[
            'Pedestrian',
            'Cyclist',
            'Car',
        ]),
        modality=dict(use_camera=False, use_lidar=True),
        pipeline=[
            dict(
                coord_type='LIDAR',
                load_dim=4,
                type='LoadPointsFromFile',
                use_dim=4),
            dict(
                point_cloud_range=[
                    0,
                    -20.48,
                    -3,
                    40.96,
                    20.48,
                    1,
                ],
                type='PointsRangeFilter'),
            dict(keys=[
                'points',
            ], type='Pack3DDetInputs'),
        ],
        test_mode=True,
        type='KittiDataset'),
    num_workers=0)
test_evaluator = dict(
    ann_file='data/kitti_synthetic/kitti_infos_test.json',
    metric='bbox',
    type='KittiMetric')
test_pipeline = [
    dict(coord_type='LIDAR', load_dim=4, type='LoadPointsFromFile', use_dim=4),
    dict(
        point_cloud_range=[
            0,
            -20.48,
            -3,
            40.96,
            20.48,
            1,
        ],
        type='PointsRangeFilter'),
    dict(keys=[
        'points',
    ], type='Pack3DDetInputs'),
]
train_cfg = dict(
    _delete_=True,
    best_metric=
    'Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict',
    checkpoint_interval=400,
    grad_share_interval=50,
    log_interval=20,
    max_iters=1200,
    val_interval=1200)
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        ann_file='kitti_infos_train.json',
        box_type_3d='LiDAR',
        data_prefix=dict(pts='training/velodyne_reduced'),
        data_root='data/kitti_synthetic/',
        metainfo=dict(classes=[
            'Pedestrian',
            'Cyclist',
            'Car',
        ]),
        modality=dict(use_camera=False, use_lidar=True),
        pipeline=[
            dict(
                coord_type='LIDAR',
                load_dim=4,
                type='LoadPointsFromFile',
                use_dim=4),
            dict(
                type='LoadAnnotations3D',
                with_bbox_3d=True,
                with_label_3d=True),
            dict(
                db_sampler=dict(
                    classes=[
                        'Pedestrian',
                        'Cyclist',
                        'Car',
                    ],
                    data_root='data/kitti_synthetic/',
                    info_path='data/kitti_synthetic/kitti_dbinfos_train.json',
                    points_loader=dict(
                        coord_type='LIDAR',
                        load_dim=4,
                        type='LoadPointsFromFile',
                        use_dim=4),
                    prepare=dict(
                        filter_by_difficulty=[
                            -1,
                        ],
                        filter_by_min_points=dict(
                            Car=5, Cyclist=5, Pedestrian=5)),
                    rate=1.0,
                    sample_groups=dict(Car=8, Cyclist=6, Pedestrian=6),
                    type='JsonDataBaseSampler'),
                type='ObjectSample'),
            dict(flip_ratio_bev_horizontal=0.5, type='RandomFlip3D'),
            dict(
                rot_range=[
                    -0.39269908,
                    0.39269908,
                ],
                scale_ratio_range=[
                    0.95,
                    1.05,
                ],
                type='GlobalRotScaleTrans'),
            dict(
                point_cloud_range=[
                    0,
                    -20.48,
                    -3,
                    40.96,
                    20.48,
                    1,
                ],
                type='PointsRangeFilter'),
            dict(
                point_cloud_range=[
                    0,
                    -20.48,
                    -3,
                    40.96,
                    20.48,
                    1,
                ],
                type='ObjectRangeFilter'),
            dict(type='PointShuffle'),
            dict(
                keys=[
                    'points',
                    'gt_bboxes_3d',
                    'gt_labels_3d',
                ],
                type='Pack3DDetInputs'),
        ],
        test_mode=False,
        type='KittiDataset'),
    num_workers=0)
train_pipeline = [
    dict(coord_type='LIDAR', load_dim=4, type='LoadPointsFromFile', use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(
        db_sampler=dict(
            classes=[
                'Pedestrian',
                'Cyclist',
                'Car',
            ],
            data_root='data/kitti_synthetic/',
            info_path='data/kitti_synthetic/kitti_dbinfos_train.json',
            points_loader=dict(
                coord_type='LIDAR',
                load_dim=4,
                type='LoadPointsFromFile',
                use_dim=4),
            prepare=dict(
                filter_by_difficulty=[
                    -1,
                ],
                filter_by_min_points=dict(Car=5, Cyclist=5, Pedestrian=5)),
            rate=1.0,
            sample_groups=dict(Car=8, Cyclist=6, Pedestrian=6),
            type='JsonDataBaseSampler'),
        type='ObjectSample'),
    dict(flip_ratio_bev_horizontal=0.5, type='RandomFlip3D'),
    dict(
        rot_range=[
            -0.39269908,
            0.39269908,
        ],
        scale_ratio_range=[
            0.95,
            1.05,
        ],
        type='GlobalRotScaleTrans'),
    dict(
        point_cloud_range=[
            0,
            -20.48,
            -3,
            40.96,
            20.48,
            1,
        ],
        type='PointsRangeFilter'),
    dict(
        point_cloud_range=[
            0,
            -20.48,
            -3,
            40.96,
            20.48,
            1,
        ],
        type='ObjectRangeFilter'),
    dict(type='PointShuffle'),
    dict(
        keys=[
            'points',
            'gt_bboxes_3d',
            'gt_labels_3d',
        ],
        type='Pack3DDetInputs'),
]
trainer = dict(devices=1, precision='32-true')
tuning = dict(
    grid=dict({'distiller.loss_weight': [
        1.0,
        0.1,
        0.3,
        3.0,
        10.0,
        30.0,
    ]}),
    metric='Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate')
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        ann_file='kitti_infos_val.json',
        box_type_3d='LiDAR',
        data_prefix=dict(pts='training/velodyne_reduced'),
        data_root='data/kitti_synthetic/',
        metainfo=dict(classes=[
            'Pedestrian',
            'Cyclist',
            'Car',
        ]),
        modality=dict(use_camera=False, use_lidar=True),
        pipeline=[
            dict(
                coord_type='LIDAR',
                load_dim=4,
                type='LoadPointsFromFile',
                use_dim=4),
            dict(
                point_cloud_range=[
                    0,
                    -20.48,
                    -3,
                    40.96,
                    20.48,
                    1,
                ],
                type='PointsRangeFilter'),
            dict(keys=[
                'points',
            ], type='Pack3DDetInputs'),
        ],
        test_mode=True,
        type='KittiDataset'),
    num_workers=0)
val_evaluator = dict(
    ann_file='data/kitti_synthetic/kitti_infos_val.json',
    metric='bbox',
    type='KittiMetric')
voxel_size = [
    0.08,
    0.08,
    0.1,
]
width = 2
x0 = 0
x1 = 40.96
y0 = -20.48
y1 = 20.48

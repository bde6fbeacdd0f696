base_classes = (
    'circle',
    'square',
    'triangle',
    'hexagon',
    'cross',
    'ring',
    'diamond',
)
classes = (
    'circle',
    'square',
    'triangle',
    'hexagon',
    'cross',
    'ring',
    'diamond',
    'star',
    'heart',
    'crescent',
)
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'densekd.ovd.proposal_recall',
    ])
data_prepare = 'python tools/make_demo_data.py --out data/shapes && python tools/prepare_ov_coco.py --dataset shapes'
data_root = 'data/shapes/'
dataset_type = 'CocoDataset'
image_size = (
    160,
    160,
)
lr_schedule = dict(
    milestones=[
        1200,
    ], policy='step', warmup_iters=50, warmup_ratio=0.001)
model = dict(
    backbone=dict(
        base_channels=32,
        depth=18,
        frozen_stages=-1,
        init_cfg=None,
        norm_cfg=dict(requires_grad=True, type='BN'),
        norm_eval=False,
        num_stages=4,
        out_indices=(
            0,
            1,
            2,
            3,
        ),
        style='pytorch',
        type='ResNet'),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            123.675,
            116.28,
            103.53,
        ],
        pad_size_divisor=32,
        std=[
            58.395,
            57.12,
            57.375,
        ],
        type='DetDataPreprocessor'),
    neck=dict(
        in_channels=[
            32,
            64,
            128,
            256,
        ],
        norm_cfg=dict(requires_grad=True, type='BN'),
        num_outs=5,
        out_channels=64,
        type='FPN'),
    rpn_head=dict(
        anchor_generator=dict(
            ratios=[
                0.5,
                1.0,
                2.0,
            ],
            scales=[
                4,
            ],
            strides=[
                4,
                8,
                16,
                32,
                64,
            ],
            type='AnchorGenerator'),
        bbox_coder=dict(
            target_means=[
                0.0,
                0.0,
                0.0,
                0.0,
            ],
            target_stds=[
                1.0,
                1.0,
                1.0,
                1.0,
            ],
            type='DeltaXYWHBBoxCoder'),
        feat_channels=64,
        in_channels=64,
        loss_bbox=dict(loss_weight=1.0, type='L1Loss'),
        loss_cls=dict(
            loss_weight=1.0, type='CrossEntropyLoss', use_sigmoid=True),
        num_classes=1,
        type='RPNHead'),
    test_cfg=dict(
        rpn=dict(
            max_per_img=300,
            min_bbox_size=0,
            nms=dict(iou_threshold=0.7, type='nms'),
            nms_pre=1000)),
    train_cfg=dict(
        rpn=dict(
            allowed_border=-1,
            assigner=dict(
                ignore_iof_thr=-1,
                match_low_quality=True,
                min_pos_iou=0.3,
                neg_iou_thr=0.3,
                pos_iou_thr=0.7,
                type='MaxIoUAssigner'),
            debug=False,
            pos_weight=-1,
            sampler=dict(
                add_gt_as_proposals=False,
                neg_pos_ub=-1,
                num=256,
                pos_fraction=0.5,
                type='RandomSampler'))),
    type='RPN')
novel_classes = (
    'star',
    'heart',
    'crescent',
)
optim_wrapper = dict(
    optimizer=dict(lr=0.02, momentum=0.9, type='SGD', weight_decay=0.0001))
seed = 0
test_dataloader = dict(
    batch_size=4,
    dataset=dict(
        ann_file='annotations/instances_test.ov.json',
        data_prefix=dict(img='test/'),
        data_root='data/shapes/',
        metainfo=dict(
            classes=(
                'circle',
                'square',
                'triangle',
                'hexagon',
                'cross',
                'ring',
                'diamond',
                'star',
                'heart',
                'crescent',
            )),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                160,
                160,
            ), type='Resize'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                meta_keys=(
                    'img_id',
                    'img_path',
                    'ori_shape',
                    'img_shape',
                    'scale_factor',
                ),
                type='PackDetInputs'),
        ],
        test_mode=True,
        type='CocoDataset'),
    num_workers=2)
test_evaluator = dict(
    ann_file='data/shapes/annotations/instances_test.ov.json',
    proposal_nums=(
        10,
        100,
        300,
    ),
    type='ProposalRecall')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(keep_ratio=True, scale=(
        160,
        160,
    ), type='Resize'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
        type='PackDetInputs'),
]
train_cfg = dict(
    best_metric='proposal/base_AR@100',
    checkpoint_interval=800,
    log_interval=20,
    max_iters=1600,
    val_interval=800)
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        ann_file='annotations/instances_train.base.json',
        data_prefix=dict(img='train/'),
        data_root='data/shapes/',
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        metainfo=dict(
            classes=(
                'circle',
                'square',
                'triangle',
                'hexagon',
                'cross',
                'ring',
                'diamond',
            )),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(keep_ratio=True, scale=(
                160,
                160,
            ), type='Resize'),
            dict(prob=0.5, type='RandomFlip'),
            dict(type='PackDetInputs'),
        ],
        type='CocoDataset'),
    num_workers=2)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(keep_ratio=True, scale=(
        160,
        160,
    ), type='Resize'),
    dict(prob=0.5, type='RandomFlip'),
    dict(type='PackDetInputs'),
]
trainer = dict(precision='32-true')
val_dataloader = dict(
    batch_size=4,
    dataset=dict(
        ann_file='annotations/instances_val.ov.json',
        data_prefix=dict(img='val/'),
        data_root='data/shapes/',
        metainfo=dict(
            classes=(
                'circle',
                'square',
                'triangle',
                'hexagon',
                'cross',
                'ring',
                'diamond',
                'star',
                'heart',
                'crescent',
            )),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                160,
                160,
            ), type='Resize'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                meta_keys=(
                    'img_id',
                    'img_path',
                    'ori_shape',
                    'img_shape',
                    'scale_factor',
                ),
                type='PackDetInputs'),
        ],
        test_mode=True,
        type='CocoDataset'),
    num_workers=2)
val_evaluator = dict(
    ann_file='data/shapes/annotations/instances_val.ov.json',
    proposal_nums=(
        10,
        100,
        300,
    ),
    type='ProposalRecall')
width = 32

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
data_prepare = 'python tools/make_demo_data.py --out data/shapes && python tools/prepare_ov_coco.py --dataset shapes'
data_root = 'data/shapes/'
dataset_type = 'CocoDataset'
distiller = dict(
    levels=[
        'object',
    ],
    multilabel_weights='as_run',
    type='DistillationPyramid')
image_size = (
    160,
    160,
)
load_from = 'work_dirs/demo_full/rpn_shapes_base/last.ckpt'
lr_schedule = dict(
    milestones=[
        3600,
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
    roi_head=dict(
        bbox_head=dict(
            bbox_coder=dict(
                target_means=[
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                ],
                target_stds=[
                    0.1,
                    0.1,
                    0.2,
                    0.2,
                ],
                type='DeltaXYWHBBoxCoder'),
            cls_predictor_cfg=dict(
                temperature=(
                    0.007,
                    0.01,
                ), type='TextEmbeddingClassifier'),
            conv_out_channels=64,
            fc_out_channels=256,
            in_channels=64,
            loss_bbox=dict(loss_weight=1.0, type='L1Loss'),
            loss_cls=dict(
                loss_weight=1.0, type='CrossEntropyLoss', use_sigmoid=False),
            norm_cfg=dict(requires_grad=True, type='BN'),
            num_classes=80,
            reg_class_agnostic=True,
            roi_feat_size=7,
            type='Shared4Conv1FCBBoxHead'),
        bbox_roi_extractor=dict(
            featmap_strides=[
                4,
                8,
                16,
                32,
            ],
            out_channels=64,
            roi_layer=dict(output_size=7, sampling_ratio=0, type='RoIAlign'),
            type='SingleRoIExtractor'),
        block_head=None,
        global_head=None,
        object_head=dict(fc_out_channels=256),
        type='OADPRoIHead',
        vocabulary=dict(
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
            ),
            novel_classes=(
                'star',
                'heart',
                'crescent',
            ),
            text_embeddings='work_dirs/demo_full/clip/shapes_text.safetensors')
    ),
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
        type='RPNHead'),
    test_cfg=dict(
        rcnn=dict(
            max_per_img=300,
            nms=dict(iou_threshold=0.5, type='nms'),
            score_thr=0.0),
        rpn=dict(
            max_per_img=300,
            min_bbox_size=0,
            nms=dict(iou_threshold=0.7, type='nms'),
            nms_pre=600)),
    train_cfg=dict(
        rcnn=dict(
            assigner=dict(
                ignore_iof_thr=-1,
                match_low_quality=False,
                min_pos_iou=0.5,
                neg_iou_thr=0.5,
                pos_iou_thr=0.5,
                type='MaxIoUAssigner'),
            debug=False,
            pos_weight=-1,
            sampler=dict(
                add_gt_as_proposals=True,
                neg_pos_ub=-1,
                num=128,
                pos_fraction=0.25,
                type='RandomSampler')),
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
                type='RandomSampler')),
        rpn_proposal=dict(
            max_per_img=300,
            min_bbox_size=0,
            nms=dict(iou_threshold=0.7, type='nms'),
            nms_pre=1000)),
    type='FasterRCNN')
norm = dict(requires_grad=True, type='BN')
novel_classes = (
    'star',
    'heart',
    'crescent',
)
optim_wrapper = dict(
    optimizer=dict(lr=0.02, momentum=0.9, type='SGD', weight_decay=0.0001),
    paramwise_cfg=dict(
        custom_keys=dict({'roi_head.bbox_head': dict(lr_mult=0.5)})))
seed = 1
teacher = dict(
    model=dict(
        cache='work_dirs/demo_full/clip_features/train',
        type='CLIPTargetTeacher'))
teacher_forward = 'forward'
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
    metric='bbox',
    novel_classes=(
        'star',
        'heart',
        'crescent',
    ),
    type='OVCocoAP50Metric')
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
    best_metric='ov/AP50_base',
    checkpoint_interval=800,
    grad_share_features=[
        'neck',
    ],
    grad_share_interval=50,
    log_interval=20,
    max_iters=4800,
    val_interval=400)
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
trainer = dict(gradient_clip_val=10.0, precision='32-true')
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
    metric='bbox',
    novel_classes=(
        'star',
        'heart',
        'crescent',
    ),
    type='OVCocoAP50Metric')
width = 32

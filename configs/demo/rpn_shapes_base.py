# Class-agnostic proposals for the open-vocabulary demo: an RPN (narrow ResNet-18 FPN, as in the
# demo detectors) trained on the BASE shapes only, evaluated by proposal recall on base and novel
# shapes of the val split (the novel ones were never boxed in training). Its FPN carries BN, as
# OADP's student's does.
#   python tools/prepare_ov_coco.py --dataset shapes
#   python tools/train.py configs/demo/rpn_shapes_base.py --work-dir work_dirs/demo/rpn_shapes_base
#   python tools/generate_proposals.py configs/demo/rpn_shapes_base.py \
#       work_dirs/demo/rpn_shapes_base/last.ckpt --split train --out work_dirs/demo/proposals/train
_base_ = ['../_base_/datasets/ov_shapes.py', '../_base_/schedules/sgd_step.py']
custom_imports = dict(imports=['densekd.ovd.proposal_recall'], allow_failed_imports=False)
width = 32  # ResNet base width (64 is a full ResNet-18); FPN at 2 * width
model = dict(
    type='RPN',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=width,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(type='FPN', in_channels=[width, 2 * width, 4 * width, 8 * width],
              out_channels=2 * width, num_outs=5, norm_cfg=dict(type='BN', requires_grad=True)),
    rpn_head=dict(
        type='RPNHead',
        num_classes=1,
        in_channels=2 * width,
        feat_channels=2 * width,
        anchor_generator=dict(  # 16 px anchors at stride 4: objects are 16-80 px
            type='AnchorGenerator', scales=[4], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0], target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1,
                         add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)))

val_evaluator = dict(_delete_=True, type='ProposalRecall',  # the tuning split
                     ann_file='data/shapes/annotations/instances_val.ov.json', proposal_nums=(10, 100, 300))
test_evaluator = dict(_delete_=True, type='ProposalRecall',  # the report split: final runs only, tools/test.py
                      ann_file='data/shapes/annotations/instances_test.ov.json', proposal_nums=(10, 100, 300))

# The best checkpoint is chosen on BASE recall only: novel boxes must not steer training.
# 1600 iterations: this RPN is also the OV demo detectors' pretraining, the stand-in for OADP's
# ImageNet / SoCo weights that, like them, never saw a novel-class label: their backbone and FPN
# start from its last.ckpt through `load_from` (its head, `bbox_head` in an mmdet RPN, stays out).
train_cfg = dict(max_iters=1600, val_interval=800, checkpoint_interval=800,
                 best_metric='proposal/base_AR@100')
lr_schedule = dict(warmup_iters=50, milestones=[1200])

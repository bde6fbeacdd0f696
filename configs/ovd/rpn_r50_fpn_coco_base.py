# Class-agnostic proposals for OV-COCO: an R50-FPN RPN trained on the 48 BASE classes only
# (instances_train2017.48.json; novel objects are unlabelled background), mmdet's RPN 1x recipe
# (16 images a step: 8 GPUs x 2, lr 0.02, 90k iterations ~ 12 epochs, steps at 60k / 80k).
# With fewer GPUs keep 16 images a step (raise batch_size) or scale lr linearly.
#   python tools/prepare_ov_coco.py --dataset coco
#   python tools/train.py configs/ovd/rpn_r50_fpn_coco_base.py --devices 8
#   python tools/generate_proposals.py configs/ovd/rpn_r50_fpn_coco_base.py \
#       work_dirs/rpn_r50_fpn_coco_base/last.ckpt --split train --out data/coco/proposals/train --devices 8
_base_ = ['../_base_/datasets/ov_coco.py', '../_base_/schedules/sgd_step.py']
custom_imports = dict(imports=['densekd.ovd.proposal_recall'], allow_failed_imports=False)
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
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
    rpn_head=dict(
        type='RPNHead',
        num_classes=1,
        in_channels=256,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64]),
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
        rpn=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)))

# Recall of base and novel boxes by the top 100 / 300 / 1000 proposals (R50 and COCO AR).
val_evaluator = dict(_delete_=True, type='ProposalRecall', ann_file='data/coco/annotations/instances_val2017.65.json',
                     proposal_nums=(100, 300, 1000))
test_evaluator = val_evaluator

# The best checkpoint is chosen on BASE recall only: novel boxes must not steer training.
train_cfg = dict(max_iters=90000, val_interval=10000, checkpoint_interval=10000, log_interval=50,
                 best_metric='proposal/base_AR@100')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
lr_schedule = dict(policy='step', warmup_iters=500, warmup_ratio=0.001, milestones=[60000, 80000])

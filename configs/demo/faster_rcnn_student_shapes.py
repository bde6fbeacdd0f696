# The demo student: a narrow Faster R-CNN R18-FPN (base width 16), trained alone.
_base_ = ['../_base_/models/faster_rcnn_r18_fpn.py', '../_base_/datasets/shapes_coco.py',
          '../_base_/schedules/sgd_step.py']
width = 16  # ResNet base width; the FPN and heads scale with it
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(in_channels=[width, 2 * width, 4 * width, 8 * width], out_channels=2 * width),
    rpn_head=dict(in_channels=2 * width, feat_channels=2 * width,
                  anchor_generator=dict(scales=[4])),  # 16 px anchors at stride 4: small images
    roi_head=dict(bbox_roi_extractor=dict(out_channels=2 * width),
                  bbox_head=dict(in_channels=2 * width, fc_out_channels=16 * width, num_classes=10)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=600, max_per_img=300)))
train_cfg = dict(max_iters=800, val_interval=400, checkpoint_interval=400)
lr_schedule = dict(warmup_iters=50, milestones=[600])

# Open-vocabulary baseline for the shapes demo: the demo Faster R-CNN (R18-FPN, width 32, 1600
# iterations of batch 4) in OADP's student recipe — BN in the FPN and the 4-conv + 1-fc box head,
# whose classifier scores regions against the class text embeddings (a learnable background, novel
# classes masked while training; class-agnostic regression; half the LR), 300 detections an image —
# trained on the 7 base shapes only, no distillation, from the base-class RPN's weights. It names
# star / heart / crescent only through their text.
#   python tools/build_text_embeddings.py --teacher configs/demo/clip_teacher_shapes.py \
#       --vocabulary shapes --out work_dirs/demo/clip/shapes_text.safetensors
#   python tools/train.py configs/demo/ovd_baseline_shapes.py
_base_ = ['../_base_/models/faster_rcnn_r18_fpn.py', '../_base_/datasets/ov_shapes.py',
          '../_base_/schedules/sgd_step.py']
width = 32  # ResNet base width; the FPN and heads scale with it (as the demo's base-class RPN)
norm = dict(type='BN', requires_grad=True)  # OADP's SyncBN, on one device
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(in_channels=[width, 2 * width, 4 * width, 8 * width], out_channels=2 * width, norm_cfg=norm),
    rpn_head=dict(in_channels=2 * width, feat_channels=2 * width,
                  anchor_generator=dict(scales=[4])),  # 16 px anchors at stride 4: small images
    roi_head=dict(
        type='OADPRoIHead',
        vocabulary=dict(text_embeddings='work_dirs/demo/clip/shapes_text.safetensors',
                        classes={{_base_.classes}}, novel_classes={{_base_.novel_classes}}),
        bbox_roi_extractor=dict(out_channels=2 * width),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=2 * width, conv_out_channels=2 * width,
                       fc_out_channels=8 * width, norm_cfg=norm, reg_class_agnostic=True,
                       cls_predictor_cfg=dict(type='TextEmbeddingClassifier', temperature=(0.007, 0.01)))),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=600, max_per_img=300), rcnn=dict(score_thr=0.0, max_per_img=300)))
# The stand-in for OADP's ImageNet / SoCo pretraining: backbone and FPN start from the demo's
# base-class RPN (configs/demo/rpn_shapes_base.py, trained on base boxes only).
load_from = 'work_dirs/demo/rpn_shapes_base/last.ckpt'
# 1600 iterations: at the foundation demo's 800 (LR step at 600) this detector, then from scratch,
# reached base AP50 0.17; at 1600 (step at 1200) 0.62 (seed 0). Its text classifier learns much
# slower than a plain linear one.
train_cfg = dict(max_iters=1600, val_interval=800, checkpoint_interval=800, best_metric='ov/AP50_base')
lr_schedule = dict(warmup_iters=50, milestones=[1200])
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))  # as OADP
# Logits are cosines / 0.007 (ViLD's temperature): from scratch at lr 0.02 the first steps' gradients
# blew the box regression up to inf at step 35 without clipping.
trainer = dict(gradient_clip_val=10.0)

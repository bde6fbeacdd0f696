# OADP on OV-COCO (Wang et al., CVPR 2023): a Faster R-CNN R50-FPN trained on the 48 base classes,
# distilling CLIP ViT-B/32 through object, block and global embeddings, evaluated by AP50 on the 17
# novel classes (the headline), the 48 base and all 65. The paper's recipe: 40k iterations, 2 images
# per GPU (8 GPUs), SGD lr 0.02, wd 2.5e-5, LR step at 30k, multi-scale training, fp16 on GPUs.
#
# Before training (each step names its outputs; see docs/oadp.md):
#   python tools/prepare_ov_coco.py --dataset coco
#   python tools/build_text_embeddings.py --teacher configs/_base_/clip/vit_b32_openai.py \
#       --vocabulary ov_coco --out data/coco/oadp/ov_coco_text.safetensors
#   python tools/train.py configs/ovd/rpn_r50_fpn_coco_base.py --devices 8
#   python tools/generate_proposals.py configs/ovd/rpn_r50_fpn_coco_base.py \
#       work_dirs/rpn_r50_fpn_coco_base/last.ckpt --split train --out work_dirs/oadp_coco/proposals/train
#   python tools/extract_clip_features.py configs/ovd/clip_features_coco.py --split train --devices 8
# Then:  python tools/train.py configs/oadp_coco.py --devices 8
_base_ = ['./_base_/models/oadp_faster_rcnn_r50_fpn.py', './_base_/datasets/ov_coco.py',
          './_base_/schedules/sgd_step.py']
data_prepare = ('download COCO 2017 into data/coco, then: python tools/prepare_ov_coco.py --dataset coco; '
                'python tools/build_text_embeddings.py --teacher configs/_base_/clip/vit_b32_openai.py '
                '--vocabulary ov_coco --out data/coco/oadp/ov_coco_text.safetensors; the base-class RPN, '
                'its proposals and the CLIP feature cache as listed at the top of configs/oadp_coco.py')
model = dict(roi_head=dict(vocabulary=dict(text_embeddings='data/coco/oadp/ov_coco_text.safetensors',
                                           classes={{_base_.classes}}, novel_classes={{_base_.novel_classes}})))
teacher = dict(model=dict(cache='work_dirs/oadp_coco/clip_features/train'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=[(1333, 640 + 32 * i) for i in range(6)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_iters=40000, val_interval=5000, checkpoint_interval=5000, best_metric='ov/AP50_novel')
# The box head learns at half the LR, as in the reference's OV-COCO config.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5),
                     paramwise_cfg=dict(custom_keys={'roi_head.bbox_head': dict(lr_mult=0.5)}))
lr_schedule = dict(policy='step', warmup_iters=500, warmup_ratio=0.001, milestones=[30000])
trainer = dict(precision='auto')  # fp16 mixed precision on GPUs, fp32 elsewhere
seed = 3407

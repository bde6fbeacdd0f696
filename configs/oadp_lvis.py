# OADP on OV-LVIS v1: 866 base (common + frequent) classes with boxes, the 337 rare ones novel;
# headline lvis/bbox_APr. Same student and pyramid as configs/oadp_coco.py; the 1203 class names
# (base first) come from the prepared annotation file.
#   python tools/prepare_ov_coco.py --dataset lvis
#   python tools/build_text_embeddings.py --teacher configs/_base_/clip/vit_b32_openai.py \
#       --vocabulary lvis --out data/lvis/oadp/lvis_text.safetensors
#   proposals from a base-class RPN and the CLIP cache, as for COCO (configs/oadp_coco.py), with the
#   LVIS annotation files (work_dirs/oadp_lvis/clip_features/train)
#   python tools/train.py configs/oadp_lvis.py --devices 8
_base_ = ['./_base_/models/oadp_faster_rcnn_r50_fpn.py', './_base_/datasets/ov_lvis.py',
          './_base_/schedules/sgd_step.py']
# The reference's OV-LVIS config scores all four heads as ViLD does, cosine / 0.01 in training and
# / 0.007 at test (with DetPro's prompts there; here any text-embedding file).
lvis_scores = dict(type='TextEmbeddingClassifier', temperature=(0.01, 0.007), scale_bias=None)
model = dict(
    roi_head=dict(vocabulary=dict(text_embeddings='data/lvis/oadp/lvis_text.safetensors',
                                  ann_file='data/lvis/annotations/lvis_v1_val.1203.json'),
                  bbox_head=dict(cls_predictor_cfg=lvis_scores),
                  object_head=dict(cls_predictor_cfg=lvis_scores),
                  block_head=dict(cls_predictor_cfg=lvis_scores),
                  global_head=lvis_scores))
teacher = dict(model=dict(cache='work_dirs/oadp_lvis/clip_features/train'))
train_cfg = dict(max_iters=40000, val_interval=5000, checkpoint_interval=5000, best_metric='lvis/bbox_APr')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=2.5e-5))
lr_schedule = dict(policy='step', warmup_iters=500, warmup_ratio=0.001, milestones=[30000])
trainer = dict(precision='auto')
seed = 3407

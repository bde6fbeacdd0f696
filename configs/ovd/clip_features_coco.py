# OADP's CLIP targets for OV-COCO: CLIP ViT-B/32 global, block and object (OAKE) embeddings.
#     python tools/prepare_ov_coco.py
#     python tools/train.py configs/ovd/rpn_r50_fpn_coco_base.py
#     python tools/generate_proposals.py configs/ovd/rpn_r50_fpn_coco_base.py \
#         work_dirs/rpn_r50_fpn_coco_base/last.ckpt --split train --out work_dirs/oadp_coco/proposals/train
#     python tools/extract_clip_features.py configs/ovd/clip_features_coco.py --split train \
#         --accelerator cuda --devices 8
_base_ = ['../_base_/clip/vit_b32_openai.py']

data_root = 'data/coco/'
clip_features = dict(
    splits=dict(
        train=dict(
            ann_file=data_root + 'annotations/instances_train2017.48.json',
            img_prefix=data_root + 'train2017/',
            proposals='work_dirs/oadp_coco/proposals/train',
            out='work_dirs/oadp_coco/clip_features/train'),
        val=dict(
            ann_file=data_root + 'annotations/instances_val2017.65.json',
            img_prefix=data_root + 'val2017/',
            proposals='work_dirs/oadp_coco/proposals/val',
            out='work_dirs/oadp_coco/clip_features/val'),
    ),
    max_proposals=100,
    dtype='float16',
    shard_size=256,
)

# OV-LVIS v1 (ViLD, OADP): train on the 866 base classes' boxes (common + frequent), evaluate on all
# 1203 with LVIS's federated AP; the 337 rare classes are the novel ones, so lvis/bbox_APr is the
# headline. Category ids are base-first: labels 0-865 are base and 866-1202 novel in both splits.
#   python tools/prepare_ov_coco.py --dataset lvis
# LVIS v1 uses the COCO 2017 images: each image's coco_url (http://images.cocodataset.org/val2017/x.jpg)
# gives 'val2017/x.jpg' (LVIS val images come from COCO train2017 too), found under data/coco/.
# The class names (1203, base-first) are read from the annotation file by OVLVISDataset: mmdet's
# LVISV1Dataset would name labels in LVIS's original order, which does not match the remapped ids.
# A config that sets its own custom_imports must keep these two modules in it.
custom_imports = dict(imports=['densekd.ovd.datasets', 'densekd.ovd.metrics'], allow_failed_imports=False)
dataset_type = 'OVLVISDataset'
data_root = 'data/lvis/'
image_root = '../coco/'  # = data/coco/, relative to data_root
data_prepare = ('download COCO 2017 images (train2017/, val2017/) into data/coco and the LVIS v1 '
                'annotations (lvis_v1_train.json, lvis_v1_val.json) into data/lvis/annotations, then '
                'python tools/prepare_ov_coco.py --dataset lvis')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_train.866.json',
        data_prefix=dict(img=image_root),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.1203.json',
        data_prefix=dict(img=image_root),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# LVIS federated bbox AP, APr (= novel) / APc / APf, at most 300 detections an image (the detector's
# test_cfg should keep 300 too).
val_evaluator = dict(type='OVLVISMetric', ann_file=data_root + 'annotations/lvis_v1_val.1203.json',
                     metric='bbox', max_dets=300)
test_evaluator = val_evaluator

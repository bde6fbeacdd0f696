# OV-COCO (Bansal et al. 2018): train on the 48 base classes' boxes, evaluate on all 65 classes.
# Category ids are base-first, so labels 0-47 are base and 48-64 novel in both splits.
#   python tools/prepare_ov_coco.py --dataset coco
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
data_prepare = ('download COCO 2017 (train2017/, val2017/, annotations/) into data/coco, then '
                'python tools/prepare_ov_coco.py --dataset coco')
# = densekd.ovd.splits.OV_COCO_BASE / OV_COCO_NOVEL (tests check it)
base_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'train', 'truck', 'boat', 'bench', 'bird', 'horse',
    'sheep', 'bear', 'zebra', 'giraffe', 'backpack', 'handbag', 'suitcase', 'frisbee', 'skis',
    'kite', 'surfboard', 'bottle', 'fork', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
    'orange', 'broccoli', 'carrot', 'pizza', 'donut', 'chair', 'bed', 'toilet', 'tv', 'laptop',
    'mouse', 'remote', 'microwave', 'oven', 'toaster', 'refrigerator', 'book', 'clock', 'vase',
    'toothbrush')
novel_classes = (
    'airplane', 'bus', 'cat', 'dog', 'cow', 'elephant', 'umbrella', 'tie', 'snowboard',
    'skateboard', 'cup', 'knife', 'cake', 'couch', 'keyboard', 'sink', 'scissors')
classes = base_classes + novel_classes

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
        ann_file='annotations/instances_train2017.48.json',
        data_prefix=dict(img='train2017/'),
        metainfo=dict(classes=base_classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.65.json',
        data_prefix=dict(img='val2017/'),
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# AP50 over novel (the headline), base and all classes, 100 detections an image (ViLD / OADP).
# maxDets 100 / 300 / 1000 as OADP's evaluation: AP50 counts up to 1000 detections an image (the
# detector keeps 300).
val_evaluator = dict(type='OVCocoAP50Metric', ann_file=data_root + 'annotations/instances_val2017.65.json',
                     metric='bbox', proposal_nums=(100, 300, 1000), novel_classes=novel_classes)
test_evaluator = val_evaluator

# The synthetic street scenes, in the Cityscapes layout at 128x256 (make them:
# `python tools/make_demo_data.py --dataset cityscapes`): the same dataset class, pipelines and
# metric as the real Cityscapes, scaled down for CPU training.
_base_ = ['./cityscapes.py']
data_root = 'data/cityscapes_synthetic/'
data_prepare = 'python tools/make_demo_data.py --dataset cityscapes'
crop_size = (128, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=1,  # the tuning split: validation during training, all choices
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(batch_size=4, num_workers=1,  # the report split: touched only by final runs, tools/test.py
                       dataset=dict(data_root=data_root, pipeline=test_pipeline,
                                    data_prefix=dict(img_path='leftImg8bit/test', seg_map_path='gtFine/test')))

# What tools/extract_clip_features.py writes for the demo: the demo CLIP teacher's global, block
# and object embeddings of every image, objects from the base-class RPN's proposals. train: the
# targets OADP distils; test (the report split): the teacher's own detector (tools/clip_detector_eval.py).
#     python tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split train
_base_ = ['./clip_teacher_shapes.py']

data_root = 'data/shapes/'
clip_features = dict(
    splits=dict(
        train=dict(
            ann_file=data_root + 'annotations/instances_train.base.json',
            img_prefix=data_root + 'train/',
            proposals='work_dirs/demo/proposals/train',
            out='work_dirs/demo/clip_features/train'),
        val=dict(
            ann_file=data_root + 'annotations/instances_val.ov.json',
            img_prefix=data_root + 'val/',
            proposals='work_dirs/demo/proposals/val',
            out='work_dirs/demo/clip_features/val'),
        test=dict(
            ann_file=data_root + 'annotations/instances_test.ov.json',
            img_prefix=data_root + 'test/',
            proposals='work_dirs/demo/proposals/test',
            out='work_dirs/demo/clip_features/test'),
    ),
    max_proposals=100,  # best proposals by objectness kept per image
    dtype='float16',
    shard_size=64,
)

# The shapes demo as an open-vocabulary benchmark: star, heart and crescent never get a box in
# training (instances_train.base.json) and are evaluated with the seven base shapes
# (instances_val.ov.json, the tuning split; instances_test.ov.json, the report split); ids are
# base-first, so labels 0-6 are base and 7-9 novel.
_base_ = ['./shapes_coco.py']
data_prepare = ('python tools/make_demo_data.py --out data/shapes && '
                'python tools/prepare_ov_coco.py --dataset shapes')
# = densekd.ovd.splits.SHAPES_BASE / SHAPES_NOVEL (tests check it)
base_classes = ('circle', 'square', 'triangle', 'hexagon', 'cross', 'ring', 'diamond')
novel_classes = ('star', 'heart', 'crescent')
classes = base_classes + novel_classes

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train.base.json',
                                     metainfo=dict(classes=base_classes)))
# val: the tuning split; test: the report split, touched only by final runs (tools/test.py)
val_dataloader = dict(dataset=dict(ann_file='annotations/instances_val.ov.json', metainfo=dict(classes=classes)))
test_dataloader = dict(dataset=dict(ann_file='annotations/instances_test.ov.json', metainfo=dict(classes=classes)))
val_evaluator = dict(type='OVCocoAP50Metric', ann_file='data/shapes/annotations/instances_val.ov.json',
                     novel_classes=novel_classes)
test_evaluator = dict(type='OVCocoAP50Metric', ann_file='data/shapes/annotations/instances_test.ov.json',
                      novel_classes=novel_classes)

# COCO 2017 detection in its official layout (mmdet's dataset config and CocoMetric).
_base_ = ['mmdet::_base_/datasets/coco_detection.py']
data_prepare = ('download train2017, val2017 and annotations_trainval2017 from cocodataset.org and '
                'unzip them into data/coco')

# Cityscapes in its official layout (mmseg's dataset config: crop 512x1024, whole-image inference),
# scored by densekd's torchmetrics-based SegmentationMetric (mIoU, per-class IoU, pixel accuracy).
_base_ = ['mmseg::_base_/datasets/cityscapes.py']
data_prepare = ('python tools/prepare_cityscapes.py --root data/cityscapes  (after unzipping '
                'gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from cityscapes-dataset.com there)')
val_evaluator = dict(_delete_=True, type='SegmentationMetric')
test_evaluator = val_evaluator

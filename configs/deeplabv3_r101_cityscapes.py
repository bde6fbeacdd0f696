# The segmentation teacher: DeepLabV3 R101-d8 on Cityscapes (the paper's teacher: 78.07 mIoU).
_base_ = ['./_base_/models/deeplabv3_r101.py', './_base_/datasets/cityscapes.py',
          './_base_/schedules/seg_poly_40k.py']

# Student alone: DeepLabV3 R18-d8 on Cityscapes (paper's baseline: 72.96 mIoU).
_base_ = ['./_base_/models/deeplabv3_r18.py', './_base_/datasets/cityscapes.py',
          './_base_/schedules/seg_poly_40k.py']

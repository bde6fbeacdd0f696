# Student alone: DeepLabV3 MobileNetV2-d8 on Cityscapes (paper's baseline: 73.12 mIoU).
_base_ = ['./_base_/models/deeplabv3_mbv2.py', './_base_/datasets/cityscapes.py',
          './_base_/schedules/seg_poly_40k.py']

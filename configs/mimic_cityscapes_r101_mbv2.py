# DeepLabV3 R101 -> DeepLabV3 MobileNetV2: plain logit mimicking (MSE through a 1x1 conv), the baseline next to ACAM-KD.
_base_ = ['./deeplabv3_mbv2_cityscapes.py', './_base_/distill/mimic_seg.py']
teacher = dict(config='configs/deeplabv3_r101_cityscapes.py',
               checkpoint='work_dirs/deeplabv3_r101_cityscapes/last.ckpt')

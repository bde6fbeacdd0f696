# DeepLabV3 R101 -> DeepLabV3 MobileNetV2: ACAM-KD (paper: R18 77.53, MBV2 76.21 mIoU).
_base_ = ['./deeplabv3_mbv2_cityscapes.py', './_base_/distill/acam_seg.py']
teacher = dict(config='configs/deeplabv3_r101_cityscapes.py',
               checkpoint='work_dirs/deeplabv3_r101_cityscapes/last.ckpt')

# DeepLabV3 R101 -> DeepLabV3 R18: ACAM-KD (paper: R18 77.53, MBV2 76.21 mIoU).
_base_ = ['./deeplabv3_r18_cityscapes.py', './_base_/distill/acam_seg.py']
teacher = dict(config='configs/deeplabv3_r101_cityscapes.py',
               checkpoint='work_dirs/deeplabv3_r101_cityscapes/last.ckpt')

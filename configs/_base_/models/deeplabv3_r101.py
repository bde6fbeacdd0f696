# DeepLabV3 ResNetV1c-101 (d8), mmseg's own model config: the segmentation teacher. LOCAL ImageNet
# checkpoint: mmcv's resnet101_v1c weights (open-mmlab://resnet101_v1c) at the path below.
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
default_scope = 'mmseg'
model = dict(
    data_preprocessor=dict(size=(512, 1024)),  # training crops are padded to Cityscapes' crop size
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    backbone=dict(depth=101))

# DeepLabV3 ResNetV1c-18 (d8), mmseg's own model config, from a LOCAL ImageNet checkpoint: put
# mmcv's resnet18_v1c weights (open-mmlab://resnet18_v1c) at the path below.
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
default_scope = 'mmseg'
model = dict(
    data_preprocessor=dict(size=(512, 1024)),  # training crops are padded to Cityscapes' crop size
    pretrained='checkpoints/resnet18_v1c-b5776b93.pth',
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64))

# DeepLabV3 MobileNetV2 (d8), as mmseg's mobilenet-v2-d8_deeplabv3 config, from a LOCAL ImageNet
# checkpoint: mmpretrain's mobilenet_v2 weights (mmcls://mobilenet_v2) at the path below.
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
default_scope = 'mmseg'
model = dict(
    data_preprocessor=dict(size=(512, 1024)),  # training crops are padded to Cityscapes' crop size
    pretrained='checkpoints/mobilenet_v2_batch256_imagenet-ff34753d.pth',
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.,
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(in_channels=320),
    auxiliary_head=dict(in_channels=96))

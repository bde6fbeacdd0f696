# The segmentation demo's student: a narrow DeepLabV3 ResNetV1c-18 (base width 8, 0.2 M
# parameters, BN, no auxiliary head), from scratch on the synthetic street scenes, trained alone.
_base_ = ['../_base_/models/deeplabv3_r18.py', '../_base_/datasets/cityscapes_synthetic.py',
          '../_base_/schedules/seg_poly_40k.py']
width = 8  # ResNet base width; the ASPP head's width scales with it
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(128, 256)),  # the synthetic scenes' crop size
    backbone=dict(base_channels=width, stem_channels=2 * width, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=8 * width, channels=2 * width, norm_cfg=norm_cfg),
    auxiliary_head=None)
train_cfg = dict(max_iters=1600, val_interval=1600, checkpoint_interval=800, log_interval=20)
lr_schedule = dict(warmup_iters=50)
trainer = dict(devices=1)

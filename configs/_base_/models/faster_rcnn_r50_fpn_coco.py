# Faster R-CNN R50-FPN, mmdet's own model config, from a LOCAL ImageNet checkpoint: put torchvision's
# resnet50 weights (torchvision://resnet50) at the path below.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py']
default_scope = 'mmdet'
model = dict(backbone=dict(depth=50, init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')))

# RetinaNet R101-FPN, mmdet's own model config, from a LOCAL ImageNet checkpoint: put torchvision's
# resnet101 weights (torchvision://resnet101) at the path below.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py']
default_scope = 'mmdet'
model = dict(backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet101-63fe2227.pth')))

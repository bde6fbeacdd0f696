# OADP on OV-COCO started as the reference starts it: from SoCo's self-supervised detection
# pretraining (a Mask R-CNN R50-FPN checkpoint, caffe-style ResNet) instead of ImageNet weights.
# Download soco_star_mask_rcnn_r50_fpn_400e.pth (linked from the OADP repository's README) to the
# path below; `load_from` loads every weight whose name and shape match the student (backbone, FPN,
# RPN, box head convs) and reports the rest.
#   python tools/train.py configs/oadp_coco_soco.py --devices 8
_base_ = ['./oadp_coco.py']
load_from = 'pretrained/soco/soco_star_mask_rcnn_r50_fpn_400e.pth'
model = dict(backbone=dict(style='caffe', init_cfg=None))

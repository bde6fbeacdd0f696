# Faster R-CNN R101-FPN -> R50-FPN on COCO: plain FPN feature mimicking, the baseline next to ACAM-KD.
_base_ = ['./faster_rcnn_r50_fpn_2x_coco.py', './_base_/distill/mimic_fpn.py']
teacher = dict(config='configs/faster_rcnn_r101_fpn_2x_coco.py',
               checkpoint='work_dirs/faster_rcnn_r101_fpn_2x_coco/last.ckpt')

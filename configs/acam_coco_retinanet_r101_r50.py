# RetinaNet R101-FPN -> R50-FPN on COCO: ACAM-KD on all FPN levels (paper: 37.4 / ACAM-KD 41.2 mAP).
_base_ = ['./retinanet_r50_fpn_2x_coco.py', './_base_/distill/acam_fpn.py']
teacher = dict(config='configs/retinanet_r101_fpn_2x_coco.py',
               checkpoint='work_dirs/retinanet_r101_fpn_2x_coco/last.ckpt')
inherit_from_teacher = ['neck', 'bbox_head']  # the paper's "inheritance": equal widths, so all of them

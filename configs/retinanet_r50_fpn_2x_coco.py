# RetinaNet R50-FPN on COCO, mmdet's 2x schedule: the student alone (paper: 37.4 / ACAM-KD 41.2 mAP).
_base_ = ['./_base_/models/retinanet_r50_fpn_coco.py', './_base_/datasets/coco_detection.py',
          './_base_/schedules/det_2x.py']
optim_wrapper = dict(optimizer=dict(lr=0.01))  # mmdet's RetinaNet rate (0.02 is its two-stage one)

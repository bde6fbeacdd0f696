# Faster R-CNN R50-FPN on COCO, mmdet's 2x schedule: the student alone (paper: 38.4 / ACAM-KD 41.4 mAP).
_base_ = ['./_base_/models/faster_rcnn_r50_fpn_coco.py', './_base_/datasets/coco_detection.py',
          './_base_/schedules/det_2x.py']

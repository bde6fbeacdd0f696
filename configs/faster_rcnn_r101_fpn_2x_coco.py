# Faster R-CNN R101-FPN on COCO, mmdet's 2x schedule: the teacher.
_base_ = ['./_base_/models/faster_rcnn_r101_fpn_coco.py', './_base_/datasets/coco_detection.py',
          './_base_/schedules/det_2x.py']

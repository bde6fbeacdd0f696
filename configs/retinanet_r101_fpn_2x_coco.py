# RetinaNet R101-FPN on COCO, mmdet's 2x schedule: the teacher.
_base_ = ['./_base_/models/retinanet_r101_fpn_coco.py', './_base_/datasets/coco_detection.py',
          './_base_/schedules/det_2x.py']
optim_wrapper = dict(optimizer=dict(lr=0.01))  # mmdet's RetinaNet rate (0.02 is its two-stage one)

# The demo teacher: the same Faster R-CNN R18-FPN, four times wider (base width 64), on the student's schedule
# (800 iterations; about 4x the student's time).
_base_ = ['./faster_rcnn_student_shapes.py']
width = 64
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(in_channels=[width, 2 * width, 4 * width, 8 * width], out_channels=2 * width),
    rpn_head=dict(in_channels=2 * width, feat_channels=2 * width),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=2 * width),
                  bbox_head=dict(in_channels=2 * width, fc_out_channels=16 * width)))

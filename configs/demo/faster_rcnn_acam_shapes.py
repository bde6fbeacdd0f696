# The demo detection student distilled from the demo teacher by ACAM-KD on all five FPN levels
# (one config entry: 'neck'), the paper's settings (M = 6, teacher as query, alpha = lambda = 1);
# a 1x1 conv maps the student's 32 channels to the teacher's 128. No inheritance: widths differ.
_base_ = ['./faster_rcnn_student_shapes.py', '../_base_/distill/acam_fpn.py']
teacher = dict(config='configs/demo/faster_rcnn_teacher_shapes.py',
               checkpoint='work_dirs/faster_rcnn_teacher_shapes/last.ckpt')
# tools/tune.py and `make demo-full`: the loss weight alpha x the diversity weight lambda (the paper's
# alpha = lambda = 1 always a point). At alpha = 1 the spatial and channel losses pulled 1-5x the task at P3
# and 25-700x at P5-P6 and the run diverged (docs/evidence.md), so alpha reaches down to 0.03.
tuning = dict(metric='coco/bbox_mAP', grid={'distiller.alpha': [0.03, 0.1, 1.0], 'distiller.lambda_div': [0.1, 1.0]})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

# The demo detection student distilled from the demo teacher by ACAM-KD on all five FPN levels
# (one config entry: 'neck'), the paper's settings (M = 6, teacher as query, alpha = lambda = 1);
# a 1x1 conv maps the student's 32 channels to the teacher's 128. No inheritance: widths differ.
_base_ = ['./faster_rcnn_student_shapes.py', '../_base_/distill/acam_fpn.py']
teacher = dict(config='configs/demo/faster_rcnn_teacher_shapes.py',
               checkpoint='work_dirs/faster_rcnn_teacher_shapes/last.ckpt')

# The demo student + plain logit mimicking (MSE through a 1x1 conv) from the demo teacher.
_base_ = ['./deeplabv3_student_streets.py', '../_base_/distill/mimic_seg.py']
teacher = dict(config='configs/demo/deeplabv3_teacher_streets.py',
               checkpoint='work_dirs/deeplabv3_teacher_streets/last.ckpt')

# The demo student + plain logit mimicking (MSE through a 1x1 conv) from the demo teacher.
_base_ = ['./deeplabv3_student_streets.py', '../_base_/distill/mimic_seg.py']
teacher = dict(config='configs/demo/deeplabv3_teacher_streets.py',
               checkpoint='work_dirs/deeplabv3_teacher_streets/last.ckpt')
# tools/tune.py and `make demo-full`: the protocol's grid (the config's own weight, 1.0, always a point).
tuning = dict(metric='mIoU', grid={'distiller.loss_weight': [0.1, 0.3, 1.0, 3.0, 10.0]})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

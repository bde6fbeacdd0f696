# The 3D demo's SECOND student distilled from the demo SECOND teacher by PointDistiller on both BEV
# backbone stages (student 32 / 64 channels, teacher 64 / 128), adapters to 16 channels.
_base_ = ['./second_student_lidar.py', '../_base_/distill/pointdistiller_second.py']
teacher = dict(config='configs/demo/second_teacher_lidar.py', checkpoint='work_dirs/second_teacher_lidar/last.ckpt')
distiller = dict(student_channels=[32, 64], teacher_channels=[64, 128], width=16)
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

# The 3D demo's SECOND student distilled from the demo SECOND teacher by PointDistiller on both BEV
# backbone stages (student 16 / 32 channels, teacher 64 / 128), adapters to 16 channels, at the reference's
# proportions of each stage's positions and without reweighting, as the reference ran SECOND.
_base_ = ['./second_student_lidar.py', '../_base_/distill/pointdistiller_second.py']
teacher = dict(config='configs/demo/second_teacher_lidar.py', checkpoint='work_dirs/second_teacher_lidar/last.ckpt')
distiller = dict(student_channels=[16, 32], teacher_channels=[64, 128], width=16)
# tools/tune.py and `make demo-full`: the loss weight x the reweighting, the reference's weight 2 and its
# SECOND reweighting (none) always a point; 'standardized' is densekd's softmax of standardised point counts.
tuning = dict(metric='Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate',
              grid={'distiller.loss_weight': [0.5, 2.0, 8.0], 'distiller.reweight': ['none', 'standardized']})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

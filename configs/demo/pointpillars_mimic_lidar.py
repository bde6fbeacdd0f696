# Baseline next to PointDistiller: plain feature mimicking on the same pillar features (MSE between the
# teacher's 32 channels and the student's 16 through a 1x1 conv + BN, vector by vector).
_base_ = ['./pointpillars_student_lidar.py', '../_base_/distill/mimic_pillars.py']
teacher = dict(config='configs/demo/pointpillars_teacher_lidar.py',
               checkpoint='work_dirs/pointpillars_teacher_lidar/last.ckpt')
distiller = dict(channels=[(16, 32)])
# tools/tune.py and `make demo-full`: the protocol's grid (the config's own weight, 1.0, always a point),
# centred by the gradient share at weight 1: 0.03-0.06 of the task at the pillar features over the first
# 100 steps (docs/evidence.md), so the grid reaches up to where the mimic pulls about as hard as the task.
tuning = dict(metric='Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate',
              grid={'distiller.loss_weight': [1.0, 3.0, 10.0, 30.0, 100.0]})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

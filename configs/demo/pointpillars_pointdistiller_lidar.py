# The 3D demo's PointPillars student (pillar features 16) distilled from the demo teacher (32) by
# PointDistiller on the pillar features, with the paper's K = 128 and temperature 0.01; N = 768 centres
# per scene (a demo scene holds about 1300 pillars: the paper's 6000 would take them all).
_base_ = ['./pointpillars_student_lidar.py', '../_base_/distill/pointdistiller_pillars.py']
teacher = dict(config='configs/demo/pointpillars_teacher_lidar.py',
               checkpoint='work_dirs/pointpillars_teacher_lidar/last.ckpt')
distiller = dict(student_channels=16, teacher_channels=32, width=16, num_centres=768)
# tools/tune.py and `make demo-full`: the loss weight x the reweighting temperature (the reference's
# weight 2 and T = 0.01 always a point).
tuning = dict(metric='Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate',
              grid={'distiller.loss_weight': [0.5, 2.0, 8.0], 'distiller.temperature': [0.01, 1.0]})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

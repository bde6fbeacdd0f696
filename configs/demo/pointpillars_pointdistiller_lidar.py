# The 3D demo's PointPillars student (pillar features 16) distilled from the demo teacher (32) by
# PointDistiller on the pillar features at the reference's proportions (the base config's shares of each
# scene's pillars: a demo scene of about 1300 pillars gets about 110 centres and K = 2), temperature 0.01.
_base_ = ['./pointpillars_student_lidar.py', '../_base_/distill/pointdistiller_pillars.py']
teacher = dict(config='configs/demo/pointpillars_teacher_lidar.py',
               checkpoint='work_dirs/pointpillars_teacher_lidar/last.ckpt')
distiller = dict(student_channels=16, teacher_channels=32, width=16)
# tools/tune.py and `make demo-full`: the loss weight x the reweighting, the reference's softmax(count / 0.01)
# (an argmax on point counts) or a softmax of the standardised counts (weights grow e-fold per standard
# deviation); the reference's weight 2 and reweighting always a point.
tuning = dict(metric='Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate',
              grid={'distiller.loss_weight': [0.5, 2.0, 8.0], 'distiller.reweight': ['softmax', 'standardized']})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

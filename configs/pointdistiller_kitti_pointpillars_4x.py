# PointDistiller: the 4x-compressed PointPillars student (pillar features 32) distilled from PointPillars
# (64) on its pillar features; paper: +2.8 BEV / +3.4 3D mAP on KITTI (moderate AP40, 3 classes).
_base_ = ['./det3d/pointpillars_kitti_3class_4x.py', './_base_/distill/pointdistiller_pillars.py']
teacher = dict(config='configs/det3d/pointpillars_kitti_3class.py',
               checkpoint='work_dirs/pointpillars_kitti_3class/last.ckpt')
distiller = dict(student_channels=32, teacher_channels=64, width=32)

# PointDistiller: the 16x-compressed PointPillars student (pillar features 16) distilled from PointPillars
# (64) on its pillar features (authors' log: 54.94 moderate 3D AP40).
_base_ = ['./det3d/pointpillars_kitti_3class_16x.py', './_base_/distill/pointdistiller_pillars.py']
teacher = dict(config='configs/det3d/pointpillars_kitti_3class.py',
               checkpoint='work_dirs/pointpillars_kitti_3class/last.ckpt')
distiller = dict(student_channels=16, teacher_channels=64, width=16)

# PointDistiller: the 4x-compressed SECOND student distilled from SECOND on both BEV backbone stages
# (student 64 / 128 channels, teacher 128 / 256), adapters to 32 channels (the reference's).
_base_ = ['./det3d/second_kitti_3class_4x.py', './_base_/distill/pointdistiller_second.py']
teacher = dict(config='configs/det3d/second_kitti_3class.py', checkpoint='work_dirs/second_kitti_3class/last.ckpt')
distiller = dict(student_channels=[64, 128], teacher_channels=[128, 256], width=32)

# PointDistiller: the 4x-compressed SECOND student distilled from SECOND on both BEV backbone stages
# (student 64 / 128 channels, teacher 128 / 256): N = 256 BEV positions per scene by the teacher's
# channel-wise max, K = 128, adapters to 32 channels (the reference's), reweighting over each scene's
# centres (the reference's softmax runs over a size-1 dimension for SECOND: no reweighting there).
_base_ = ['./det3d/second_kitti_3class_4x.py']
teacher = dict(config='configs/det3d/second_kitti_3class.py', checkpoint='work_dirs/second_kitti_3class/last.ckpt')
stages = ['backbone[0]', 'backbone[1]']
distiller = dict(type='LocalGraphDistiller', student_features=stages, teacher_features=stages,
                 student_channels=[64, 128], teacher_channels=[128, 256], width=32,
                 importance='teacher_channel_max', num_centres=256, num_neighbours=128, temperature=0.01,
                 reweight=True, edge='concat', loss_weight=2.0)

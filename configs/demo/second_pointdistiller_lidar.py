# The 3D demo's SECOND student distilled from the demo SECOND teacher by PointDistiller on both BEV
# backbone stages (student 32 / 64 channels, teacher 64 / 128): N = 256 positions per scene by the
# teacher's channel-wise max, K = 128, adapters to 16 channels.
_base_ = ['./second_student_lidar.py']
teacher = dict(config='configs/demo/second_teacher_lidar.py', checkpoint='work_dirs/second_teacher_lidar/last.ckpt')
stages = ['backbone[0]', 'backbone[1]']
distiller = dict(type='LocalGraphDistiller', student_features=stages, teacher_features=stages,
                 student_channels=[32, 64], teacher_channels=[64, 128], width=16,
                 importance='teacher_channel_max', num_centres=256, num_neighbours=128, temperature=0.01,
                 reweight=True, edge='concat', loss_weight=2.0)

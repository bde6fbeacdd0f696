# PointDistiller on SECOND's two BEV backbone stages: the paper's N = 256 positions per scene by the
# teacher's channel-wise max, K = 128, reweighting over each scene's centres with temperature 0.01 (the
# reference's softmax runs over a size-1 dimension for SECOND: no reweighting there); loss weight 2 (the
# reference's mean x 2); the teacher's adapter is fixed (see pointdistiller_pillars.py). Widths are set
# by each config (student_channels, teacher_channels, width).
stages = ['backbone[0]', 'backbone[1]']
distiller = dict(type='LocalGraphDistiller', student_features=stages, teacher_features=stages,
                 importance='teacher_channel_max', num_centres=256, num_neighbours=128, temperature=0.01,
                 reweight=True, edge='concat', train_teacher_adapter=False, loss_weight=2.0)

# PointDistiller on SECOND's two BEV backbone stages, at the reference's proportions: per scene, 256 centres
# by the teacher's channel-wise max and K = 128 neighbours, on KITTI's 200 x 176 and 100 x 88 stage maps;
# densekd takes the same shares of each stage's positions (docs/det3d.md, "Graph sizes"). No reweighting:
# the reference's softmax runs over a size-1 dimension for SECOND (reweight='as_run' gives what it computed,
# every weight equal to the batch size). Loss weight 2 (the reference's mean x 2); the target is the teacher's
# standardised edges (see pointdistiller_pillars.py). Widths are set by each config (student_channels,
# teacher_channels; width: adapter targets only).
stages = ['backbone[0]', 'backbone[1]']
distiller = dict(type='LocalGraphDistiller', student_features=stages, teacher_features=stages,
                 importance='teacher_channel_max', num_centres=None, num_neighbours=None,
                 centre_share=[256 / (200 * 176), 256 / (100 * 88)],
                 neighbour_share=[128 / (200 * 176), 128 / (100 * 88)], reweight='none', edge='concat',
                 target='standardized', loss_weight=2.0)

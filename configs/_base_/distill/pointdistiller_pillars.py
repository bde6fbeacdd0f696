# PointDistiller on PointPillars' pillar features (the voxel encoder's (P, C) output, before scatter):
# the paper's N = 6000 centres per scene by points per pillar, K = 128 neighbours in the teacher's feature
# space, reweighting softmax(count / 0.01) x N; loss weight 2 (the reference's mean x 2). The teacher's
# adapter stays a fixed random projection (trained, as in the reference, the two sides collapse onto each
# other: docs/det3d.md, fidelity list). Widths are set by each config (student_channels, teacher_channels, width).
distiller = dict(type='LocalGraphDistiller', student_features=['voxel_encoder'], teacher_features=['voxel_encoder'],
                 importance='points_per_voxel', num_centres=6000, num_neighbours=128, temperature=0.01,
                 reweight=True, edge='concat', train_teacher_adapter=False, loss_weight=2.0)

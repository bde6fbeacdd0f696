# PointDistiller on PointPillars' pillar features (the voxel encoder's (P, C) output, before scatter), at the
# reference's proportions: it takes the 6000 fullest pillars of a batch of 6 KITTI scenes (about 12000
# pillars each: about 1000 a scene, 8 %) and 128 neighbours among the batch's pillars (0.18 %); densekd
# takes the same shares of each scene (docs/det3d.md, "Graph sizes"), K in the teacher's feature space.
# Reweighting softmax(count / 0.01) x N and loss weight 2 (the reference's mean x 2). The student learns the
# teacher's own edge features, standardised per channel (target='standardized'): the reference's two trained
# adapters collapse onto each other, a fixed random one zeroes half the targets (docs/det3d.md, fidelity
# list). Widths are set by each config (student_channels, teacher_channels; width: adapter targets only).
distiller = dict(type='LocalGraphDistiller', student_features=['voxel_encoder'], teacher_features=['voxel_encoder'],
                 importance='points_per_voxel', num_centres=None, num_neighbours=None,
                 centre_share=6000 / (6 * 12000), neighbour_share=128 / (6 * 12000), reweight='softmax',
                 temperature=0.01, edge='concat', target='standardized', loss_weight=2.0)

# Plain feature mimicking on PointPillars' pillar features (the voxel encoder's (P, C) output): MSE between
# the teacher's vectors and the student's through a 1x1 conv + BN, vector by vector. Each config (or
# tools/distill.py) sets channels = [(student width, teacher width)].
distiller = dict(type='FeatureMimicDistiller', student_features=['voxel_encoder'], teacher_features=['voxel_encoder'],
                 adapter=dict(type='ConvAdapter'), channels=[(None, None)], loss=dict(type='FeatureMSELoss'),
                 loss_weight=1.0)

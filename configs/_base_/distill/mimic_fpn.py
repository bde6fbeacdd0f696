# Plain feature mimicking on the five FPN levels (MSE; equal widths, so no adapter).
fpn_levels = [f'neck[{i}]' for i in range(5)]
distiller = dict(type='FeatureMimicDistiller', student_features=fpn_levels, teacher_features=fpn_levels,
                 loss=dict(type='FeatureMSELoss'), loss_weight=1.0)

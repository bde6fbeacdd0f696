# Plain feature mimicking on a LiDAR detector's two BEV backbone stages (SECOND's): MSE through a 1x1 conv
# + BN per stage. Each config (or tools/distill.py) sets channels = [(student, teacher) per stage].
stages = ['backbone[0]', 'backbone[1]']
distiller = dict(type='FeatureMimicDistiller', student_features=stages, teacher_features=stages,
                 adapter=dict(type='ConvAdapter'), channels=[(None, None)] * 2, loss=dict(type='FeatureMSELoss'),
                 loss_weight=1.0)

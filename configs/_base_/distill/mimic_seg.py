# Plain feature mimicking on segmentation logits (the baseline ACAM-KD improves on): MSE between
# the teacher's logits and the student's, through a 1x1 conv.
_base_ = ['./seg_logits.py']
distiller = dict(type='FeatureMimicDistiller', student_features=['decode_head.conv_seg'],
                 teacher_features=['decode_head.conv_seg'],
                 adapter=dict(type='ConvAdapter', kernel_size=1, norm=False),
                 loss=dict(type='FeatureMSELoss'), loss_weight=1.0)

# ACAM-KD on segmentation logits, the paper's setting: one mask per class (M = 19), teacher as
# query, alpha = lambda = 1.
_base_ = ['./seg_logits.py']
distiller = dict(type='ACAMDistiller', student_features=['decode_head.conv_seg'],
                 teacher_features=['decode_head.conv_seg'], num_masks=19, query='teacher',
                 masks=('spatial', 'channel'), alpha=1.0, lambda_div=1.0,
                 standardize_fused=True)  # False: the published form, whose spatial masks collapse (docs/acam_kd.md)

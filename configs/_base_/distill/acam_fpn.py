# ACAM-KD on every FPN level of an mmdet detector: one entry for all levels ('neck' records the
# level tuple; one fusion module and one set of M = 6 mask units serve every level), the paper's
# alpha = lambda = 1, teacher as query.
distiller = dict(type='ACAMDistiller', student_features=['neck'], teacher_features=['neck'],
                 num_masks=6, query='teacher', masks=('spatial', 'channel'), alpha=1.0, lambda_div=1.0,
                 standardize_fused=True)  # False: the published form, whose spatial masks collapse (docs/acam_kd.md)

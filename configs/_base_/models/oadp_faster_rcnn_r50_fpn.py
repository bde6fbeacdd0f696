# OADP's student (the reference's configs/dp/models): Faster R-CNN R50-FPN whose FPN and 4-conv +
# 1-fc box head carry SyncBN (plain BN on one device), whose box classifier scores regions against
# class text embeddings (cosine / 0.007 in training, / 0.01 at test; a learnable background; novel
# classes masked while training; class-agnostic regression), with the object / block / global
# distillation branches (densekd.ovd.heads.BRANCH_DEFAULTS) and the distillation pyramid from CLIP
# targets. It keeps 300 detections an image (score threshold 0), evaluated at maxDets 1000.
# The top config gives model.roi_head.vocabulary, teacher.model.cache and the box head's lr_mult 0.5.
_base_ = ['./faster_rcnn_r50_fpn.py']
sync_bn = dict(type='SyncBN', requires_grad=True)
model = dict(
    neck=dict(norm_cfg=sync_bn),
    roi_head=dict(
        type='OADPRoIHead',
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=sync_bn, reg_class_agnostic=True,
                       cls_predictor_cfg=dict(type='TextEmbeddingClassifier', temperature=(0.007, 0.01))),
        object_head=dict(), block_head=dict(), global_head=dict()),
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=300)))
teacher = dict(model=dict(type='CLIPTargetTeacher'))
teacher_forward = 'forward'
# Loss weights and warm-ups: OADP's (densekd.ovd.pyramid.LOSSES; the multi-label ones as the
# reference ran them, see MULTILABEL_WEIGHTS).
distiller = dict(type='DistillationPyramid', levels=('object', 'block', 'global'), multilabel_weights='as_run')

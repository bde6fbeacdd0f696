# OADP's student: Faster R-CNN R50-FPN whose box classifier scores regions against class text
# embeddings (learnable background, novel classes masked while training, class-agnostic
# regression), with the object / block / global distillation branches (their defaults:
# densekd.ovd.heads.BRANCH_DEFAULTS) and the distillation pyramid from CLIP targets.
# The top config gives model.roi_head.vocabulary and teacher.model.cache.
_base_ = ['./faster_rcnn_r50_fpn.py']
model = dict(
    roi_head=dict(
        type='OADPRoIHead',
        bbox_head=dict(reg_class_agnostic=True,
                       cls_predictor_cfg=dict(type='TextEmbeddingClassifier', temperature=(0.007, 0.01))),
        object_head=dict(), block_head=dict(), global_head=dict()),
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=100)))
teacher = dict(model=dict(type='CLIPTargetTeacher'))
teacher_forward = 'forward'
# Loss weights and warm-ups: OADP's (densekd.ovd.pyramid.LOSSES).
distiller = dict(type='DistillationPyramid', levels=('object', 'block', 'global'))

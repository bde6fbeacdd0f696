# OADP on the shapes demo: the open-vocabulary baseline plus the distillation pyramid (object,
# block, global branches with OADP's defaults, densekd.ovd.heads.BRANCH_DEFAULTS, narrowed to the
# demo's width) from the demo CLIP, its targets read from the feature cache:
#   python tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split train
#   python tools/train.py configs/demo/oadp_shapes.py
# Ablations (tools/demo.py runs them): distiller.levels=[object] with model.roi_head.block_head=None
# and model.roi_head.global_head=None; [object,block] with global_head=None.
_base_ = ['./ovd_baseline_shapes.py']
model = dict(roi_head=dict(object_head=dict(fc_out_channels=256), block_head=dict(fc_out_channels=256),
                           global_head=dict()))
teacher = dict(model=dict(type='CLIPTargetTeacher', cache='work_dirs/demo/clip_features/train'))
teacher_forward = 'forward'
# Loss weights and warm-ups: OADP's (densekd.ovd.pyramid.LOSSES; the multi-label ones as the
# reference ran them, see MULTILABEL_WEIGHTS).
distiller = dict(type='DistillationPyramid', levels=('object', 'block', 'global'), multilabel_weights='as_run')
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
# Measured at the FPN levels, where the task's gradient and the pyramid's meet (the branches are off the task's path).
train_cfg = dict(grad_share_interval=50, grad_share_features=['neck'])

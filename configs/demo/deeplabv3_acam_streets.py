# The demo student + ACAM-KD on the logits (the paper's settings: M = 19, teacher as query,
# alpha = lambda = 1). Ablations: --cfg-options "distiller.masks=[spatial]" (or [channel]).
_base_ = ['./deeplabv3_student_streets.py', '../_base_/distill/acam_seg.py']
teacher = dict(config='configs/demo/deeplabv3_teacher_streets.py',
               checkpoint='work_dirs/deeplabv3_teacher_streets/last.ckpt')
# tools/tune.py and `make demo-full`: the loss weight alpha x the diversity weight lambda (the paper's
# alpha = lambda = 1 always a point).
tuning = dict(metric='mIoU', grid={'distiller.alpha': [0.3, 1.0, 3.0], 'distiller.lambda_div': [0.1, 1.0]})
# Gradient shares every 50 steps (docs/evidence.md; about 0.3% of the training time): what sets the loss weight.
train_cfg = dict(grad_share_interval=50)

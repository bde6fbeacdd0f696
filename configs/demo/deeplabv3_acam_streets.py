# The demo student + ACAM-KD on the logits (the paper's settings: M = 19, teacher as query,
# alpha = lambda = 1). Ablations: --cfg-options "distiller.masks=[spatial]" (or [channel]).
_base_ = ['./deeplabv3_student_streets.py', '../_base_/distill/acam_seg.py']
teacher = dict(config='configs/demo/deeplabv3_teacher_streets.py',
               checkpoint='work_dirs/deeplabv3_teacher_streets/last.ckpt')

# The demo's CLIP teacher: a tiny ViT (48 px input, 8 px patches, fixed 2D sine-cosine positions)
# pretrained on the shapes training images with all ten class names, novel ones included: the
# offline stand-in for web-scale CLIP pretraining. Make the weights (about 15 min on 2 CPU cores):
#     python tools/pretrain_demo_clip.py
# or copy the ones the archived demo runs used, which the demo does (pretrains if another recipe or other
# images made them):
#     python tools/pretrain_demo_clip.py --reuse results/demo_full/clip/demo_clip.safetensors
# `model_config_file` registers the open_clip model config named `model_name`; `pretrained` is a
# local weights file (hub models take an open_clip tag instead).
#
# OAKE settings differ from OADP's ViT-B/32 ones (expand_ratio=8, object_stride_divisor=2) because
# this model sees only 6x6 patches: with a sqrt(8)-times larger square the object shrinks to ~17 px
# and its zero-shot accuracy falls to near chance (see tools/pretrain_demo_clip.py), and half
# stride quadruples the tokens of a model never trained on them. A sqrt(2)-times square keeps some
# context around the object at a resolution this model can read.
clip_teacher = dict(
    model_name='densekd-demo-vit-tiny',
    model_config_file='configs/clip/densekd-demo-vit-tiny.json',
    pretrained='work_dirs/demo/clip/demo_clip.safetensors',
    mask_bias=-100.0,
    expand_ratio=2.0,
    object_stride_divisor=1,
)

# The demo's CLIP teacher: a tiny ViT (64 px input, 8 px patches, fixed 2D sine-cosine positions)
# pretrained on the shapes training images with all ten class names, novel ones included: the
# offline stand-in for web-scale CLIP pretraining. Make the weights (a few minutes on 2 CPU cores):
#     python tools/pretrain_demo_clip.py
# `model_config_file` registers the open_clip model config named `model_name`; `pretrained` is a
# local weights file (hub models take an open_clip tag instead).
# The object token reads the crop at the native patch stride (object_stride_divisor=1): OADP halves
# the stride of ViT-B/32 (7x7 grid) for finer masks, but this 8x8-grid model was pretrained at its
# native stride only, and half stride quadruples the token count.
clip_teacher = dict(
    model_name='densekd-demo-vit-tiny',
    model_config_file='configs/clip/densekd-demo-vit-tiny.json',
    pretrained='work_dirs/demo/clip/demo_clip.safetensors',
    mask_bias=-100.0,
    object_stride_divisor=1,
)

# The segmentation demo's teacher: the same DeepLabV3 R18 at 4x the width (base 32, 3.5 M
# parameters), trained alone on the synthetic street scenes.
_base_ = ['./deeplabv3_student_streets.py']
width = 32
model = dict(
    backbone=dict(base_channels=width, stem_channels=width),
    decode_head=dict(in_channels=8 * width, channels=2 * width))

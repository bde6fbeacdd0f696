# PointDistiller's 16x-compressed SECOND student (every width quartered: sparse encoder 4 / 8 / 16 / 16
# -> 32, BEV backbone 32 / 64, neck 2 x 64), trained alone: its baseline.
_base_ = ['./second_kitti_3class.py']
width = 4  # the teacher's: 16 (the sparse encoder's first width; the rest scale with it)
model = dict(
    middle_encoder=dict(base_channels=width, output_channels=8 * width,
                        encoder_channels=((width,), (2 * width,) * 3, (4 * width,) * 3, (4 * width,) * 3)),
    backbone=dict(in_channels=16 * width, out_channels=[8 * width, 16 * width]),  # 2 height cells x 8w
    neck=dict(in_channels=[8 * width, 16 * width], out_channels=[16 * width] * 2),
    bbox_head=dict(in_channels=32 * width, feat_channels=32 * width))

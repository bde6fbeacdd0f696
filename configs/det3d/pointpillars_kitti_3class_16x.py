# PointDistiller's 16x-compressed PointPillars student (every width quartered: pillar features 16,
# backbone 16 / 32 / 64, neck 3 x 32), trained alone: its baseline.
_base_ = ['./pointpillars_kitti_3class.py']
width = 16  # the teacher's: 64
model = dict(
    voxel_encoder=dict(feat_channels=[width]),
    middle_encoder=dict(in_channels=width),
    backbone=dict(in_channels=width, out_channels=[width, 2 * width, 4 * width]),
    neck=dict(in_channels=[width, 2 * width, 4 * width], out_channels=[2 * width] * 3),
    bbox_head=dict(in_channels=6 * width, feat_channels=6 * width))

# PointDistiller's 4x-compressed PointPillars student (every width halved: pillar features 32,
# backbone 32 / 64 / 128, neck 3 x 64), trained alone: its baseline.
_base_ = ['./pointpillars_kitti_3class.py']
width = 32  # the teacher's: 64
model = dict(
    voxel_encoder=dict(feat_channels=[width]),
    middle_encoder=dict(in_channels=width),
    backbone=dict(in_channels=width, out_channels=[width, 2 * width, 4 * width]),
    neck=dict(in_channels=[width, 2 * width, 4 * width], out_channels=[2 * width] * 3),
    bbox_head=dict(in_channels=6 * width, feat_channels=6 * width))

# The 3D demo's PointPillars teacher: the student's network at twice its width (pillar features 32,
# backbone 32 / 64 / 128, neck 3 x 64: KITTI's "4x" widths), trained alone on the synthetic scenes.
_base_ = ['./pointpillars_student_lidar.py']
width = 32
model = dict(
    voxel_encoder=dict(feat_channels=[width]),
    middle_encoder=dict(in_channels=width),
    backbone=dict(in_channels=width, out_channels=[width, 2 * width, 4 * width]),
    neck=dict(in_channels=[width, 2 * width, 4 * width], out_channels=[2 * width] * 3),
    bbox_head=dict(in_channels=6 * width, feat_channels=6 * width))

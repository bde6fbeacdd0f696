# The 3D demo's PointPillars student, trained alone on the synthetic LiDAR scenes: mmdet3d's
# PointPillars on the demo area with 0.32 m pillars (a 128 x 128 grid) and a quarter of KITTI's
# widths (pillar features 16, backbone 16 / 32 / 64, neck 3 x 32: the paper's "16x" student).
_base_ = ['mmdet3d::_base_/models/pointpillars_hv_secfpn_kitti.py', '../_base_/datasets/kitti_synthetic.py',
          '../_base_/schedules/det3d_cyclic.py']
point_cloud_range = {{_base_.point_cloud_range}}
voxel_size = [0.32, 0.32, 4]
width = 16  # KITTI's PointPillars: 64
x0, y0, x1, y1 = 0, -20.48, 40.96, 20.48
model = dict(
    data_preprocessor=dict(voxel_layer=dict(point_cloud_range=point_cloud_range, voxel_size=voxel_size,
                                            max_voxels=(8000, 12000))),
    voxel_encoder=dict(feat_channels=[width], voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    middle_encoder=dict(in_channels=width, output_shape=[128, 128]),
    backbone=dict(in_channels=width, out_channels=[width, 2 * width, 4 * width]),
    neck=dict(in_channels=[width, 2 * width, 4 * width], out_channels=[2 * width] * 3),
    bbox_head=dict(in_channels=6 * width, feat_channels=6 * width, anchor_generator=dict(ranges=[
        [x0, y0, -0.6, x1, y1, -0.6], [x0, y0, -0.6, x1, y1, -0.6], [x0, y0, -1.78, x1, y1, -1.78]])))
optim_wrapper = dict(optimizer=dict(lr=0.001), clip_grad=dict(max_norm=35))
train_cfg = dict(_delete_=True, max_iters=1200, val_interval=1200, checkpoint_interval=400, log_interval=20,
                 best_metric='Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict')
trainer = dict(devices=1)

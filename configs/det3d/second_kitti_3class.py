# SECOND (sparse-convolution voxel encoder + BEV backbone) on KITTI, 3 classes: mmdet3d's model,
# dataset and schedule (its second_hv_secfpn_8xb6-80e_kitti-3d-3class.py). 40 epochs of the twice
# repeated 3712-scene train split at batch 48 = 6187 iterations. The PointDistiller teacher.
_base_ = ['mmdet3d::_base_/models/second_hv_secfpn_kitti.py', '../_base_/datasets/kitti_3class.py',
          '../_base_/schedules/det3d_cyclic.py']
train_cfg = dict(_delete_=True, max_iters=6187, val_interval=1547, checkpoint_interval=1547, log_interval=50,
                 best_metric='Car_3D_AP40_moderate')

# mmdet3d's KITTI schedule (its _base_/schedules/cyclic-40e.py): AdamW, one-cycle learning rate (up
# to 10x over the first 40 %, then down to 1e-4x; momentum is not cycled in densekd), batch 48 in
# total = 8 devices x 6 scenes; gradient L2 norm clipped. Configs set lr, max_norm and max_iters.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.0018, betas=(0.95, 0.99), weight_decay=0.01),
                     clip_grad=dict(max_norm=10, norm_type=2))
lr_schedule = dict(policy='cyclic', peak_ratio=10.0, up_fraction=0.4, min_ratio=1e-4)
param_scheduler = None  # mmdet3d's; densekd steps lr_schedule per iteration
trainer = dict(devices=8, precision='32-true')
seed = 0

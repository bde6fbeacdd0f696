# mmdet's 2x schedule in iterations: 24 epochs of COCO train2017 (117k images) at batch 16 in total
# (8 devices x 2) = 175,920 iterations, lr / 10 at epochs 16 and 22; SGD lr 0.02, wd 1e-4.
train_cfg = dict(max_iters=175920, val_interval=7330, checkpoint_interval=7330, log_interval=50,
                 best_metric='coco/bbox_mAP')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
lr_schedule = dict(policy='step', warmup_iters=500, warmup_ratio=0.001, milestones=[117280, 161260])
trainer = dict(devices=8, precision='32-true')
seed = 0

# Iteration-based SGD with linear warm-up and step decay (the detection default).
train_cfg = dict(max_iters=12000, val_interval=2000, checkpoint_interval=2000, log_interval=20,
                 best_metric='coco/bbox_mAP')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
lr_schedule = dict(policy='step', warmup_iters=500, warmup_ratio=0.001, milestones=[8000, 11000])
trainer = dict(precision='32-true')
seed = 0

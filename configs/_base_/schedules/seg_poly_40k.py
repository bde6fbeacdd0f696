# ACAM-KD's segmentation schedule: 40k iterations, SGD lr 0.02 momentum 0.9 wd 5e-4, poly decay
# (power 0.9, to 1e-4), batch 16 in total = 8 devices x 2 crops (use --devices to change).
train_cfg = dict(max_iters=40000, val_interval=4000, checkpoint_interval=4000, log_interval=50,
                 best_metric='mIoU')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
lr_schedule = dict(policy='poly', power=0.9, min_ratio=1e-4 / 0.02)
trainer = dict(devices=8, precision='32-true')
seed = 0

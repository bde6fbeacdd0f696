"""The Lightning Trainer densekd trains and tests with: checkpoints, logs, progress, devices."""
import os
import sys
import warnings

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from .errors import InvalidValue


# Expected here: the frozen teacher is in eval mode by design, and the student's data
# preprocessor (not Lightning) moves batches to the device.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
warnings.filterwarnings("ignore", message=r"You have overridden `transfer_batch_to_device`")


class IterationProgressBar(TQDMProgressBar):
    """A progress bar over iterations (the train loader is endless), with ETA."""

    @property
    def total_train_batches(self):
        return self.trainer.max_steps

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)  # the log folder's version number is noise in the bar
        return items


class CheckpointOnInterrupt(Callback):
    """On Ctrl-C, save ``last.ckpt`` before Lightning exits, and say how to resume."""

    def __init__(self, path):
        self.path = path

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, KeyboardInterrupt):
            trainer.save_checkpoint(self.path)
            if trainer.is_global_zero:
                print(f"\ninterrupted at iteration {trainer.global_step}: saved {self.path}. "
                      "Continue by running the same command with --resume.", file=sys.stderr, flush=True)


def build_trainer(cfg, work_dir, devices=None, accelerator=None, for_test=False):
    """A Trainer from ``cfg.train_cfg`` / ``cfg.trainer``; ``devices``/``accelerator`` override it."""
    train_cfg = cfg.train_cfg
    extra = dict(cfg.get("trainer", {}))  # any other Trainer argument, e.g. precision, num_nodes
    cfg_devices, cfg_accelerator = extra.pop("devices", 1), extra.pop("accelerator", "auto")
    devices, accelerator = devices or cfg_devices, accelerator or cfg_accelerator
    if extra.get("precision") == "auto":  # densekd's: fp16 mixed precision where a GPU runs it, else fp32
        on_gpu = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
        extra["precision"] = "16-mixed" if on_gpu else "32-true"
    clip = (cfg.get("optim_wrapper") or {}).get("clip_grad")
    if clip and "gradient_clip_val" not in extra:  # mmengine's optim_wrapper.clip_grad, done by Lightning
        if clip.get("norm_type", 2) != 2:
            raise InvalidValue(f"optim_wrapper.clip_grad.norm_type={clip['norm_type']}: densekd clips the L2 norm "
                               "only; set norm_type=2 or trainer.gradient_clip_val / gradient_clip_algorithm")
        extra.update(gradient_clip_val=clip["max_norm"], gradient_clip_algorithm="norm")
    multi = (isinstance(devices, int) and devices > 1) or extra.get("num_nodes", 1) > 1
    strategy = extra.pop("strategy", "ddp" if multi else "auto")
    # One version_N folder per run, so that neither a resumed run nor testing deletes earlier logs.
    loggers = [CSVLogger(work_dir, name="test_logs" if for_test else "logs")]
    if not for_test:
        loggers.append(TensorBoardLogger(work_dir, name="tensorboard"))
    callbacks = [IterationProgressBar()]
    if not for_test:
        interval = train_cfg.get("checkpoint_interval", train_cfg.get("val_interval", train_cfg.max_iters))
        callbacks += [
            ModelCheckpoint(dirpath=work_dir, filename="iter_{step}", every_n_train_steps=interval,
                            save_last=True, save_top_k=-1 if train_cfg.get("keep_all_checkpoints") else 0),
            LearningRateMonitor(logging_interval="step"),
            CheckpointOnInterrupt(last_checkpoint(work_dir)),
        ]
        if train_cfg.get("best_metric"):
            callbacks.append(ModelCheckpoint(dirpath=work_dir, filename="best", save_top_k=1,
                                             monitor=f"val/{train_cfg.best_metric}", mode="max"))
    defaults = dict(
        default_root_dir=work_dir,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        max_steps=train_cfg.max_iters,
        val_check_interval=train_cfg.get("val_interval", train_cfg.max_iters),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # DataModule shards its own loaders
        log_every_n_steps=train_cfg.get("log_interval", 10),
        logger=loggers,
        callbacks=callbacks,
        enable_model_summary=False,
    )
    return L.Trainer(**{**defaults, **extra})  # the config's `trainer` entries win, e.g. num_sanity_val_steps


def last_checkpoint(work_dir):
    """Path of ``work_dir/last.ckpt`` (what ``--resume`` without a path resumes from)."""
    return os.path.join(work_dir, "last.ckpt")

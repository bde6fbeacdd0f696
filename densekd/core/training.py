"""One training run from a loaded config: what ``tools/train.py`` and ``tools/distill.py`` both do."""
import json
import os
import time
from contextlib import contextmanager

import lightning as L
from filelock import FileLock, Timeout

from .data import DataModule
from .errors import InUse, MissingFile
from .module import DistillModule
from .report import json_safe
from .trainer import build_trainer, last_checkpoint


def train(cfg, config_path, work_dir, resume=None, devices=None, accelerator=None):
    """Train ``cfg`` (read from ``config_path``) into ``work_dir``; ``resume``: a checkpoint path, or ``'last'``
    for ``work_dir/last.ckpt``. Writes ``config.py``, checkpoints, logs and ``train_summary.json``; returns the
    Trainer."""
    os.makedirs(work_dir, exist_ok=True)
    with work_dir_lock(work_dir):
        ckpt_path = None
        if resume:
            ckpt_path = last_checkpoint(work_dir) if resume == "last" else resume
            if not os.path.isfile(ckpt_path):
                raise MissingFile(f"checkpoint to resume from not found: {ckpt_path}")
        cfg.dump(os.path.join(work_dir, "config.py"))

        L.seed_everything(cfg.get("seed", 0), workers=True, verbose=False)
        datamodule = DataModule(cfg)  # checks the data exists before building any model
        module = DistillModule.from_config(cfg, init_weights=ckpt_path is None)
        trainer = build_trainer(cfg, work_dir, devices, accelerator)
        start = time.perf_counter()

        def write_summary(**extra):
            if trainer.is_global_zero:
                summary = dict(config=config_path, iterations=trainer.global_step,
                               train_time_s=round(time.perf_counter() - start, 1), resumed_from=ckpt_path, **extra)
                with open(os.path.join(work_dir, "train_summary.json"), "w") as f:
                    json.dump(summary, f, indent=2)

        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        except FloatingPointError as err:  # a diverged run is a result too: say so where tables look
            write_summary(diverged=str(err))
            raise
        trainer.save_checkpoint(last_checkpoint(work_dir))  # the final state, whatever the interval
        write_summary(**last_validation(module))
        if trainer.is_global_zero:
            print(f"trained {trainer.global_step} iterations in {time.perf_counter() - start:.0f} s; "
                  f"checkpoint: {last_checkpoint(work_dir)}")
    return trainer


@contextmanager
def work_dir_lock(work_dir):
    """Hold ``work_dir`` while a training writes to it: the same run started twice is refused, instead of two
    trainings overwriting each other's checkpoints. A process started by a distributed launch (``LOCAL_RANK``,
    ``RANK`` or ``SLURM_PROCID`` set) does not take it; Lightning's own launcher process does, for its ranks."""
    if any(key in os.environ for key in ("LOCAL_RANK", "RANK", "SLURM_PROCID")):
        yield
        return
    lock = FileLock(os.path.join(work_dir, ".train.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InUse(f"another training is writing to {work_dir} (it holds {lock.lock_file}): wait for it to end, "
                    "or give this one another --work-dir") from None
    try:
        yield
    finally:
        lock.release()


def last_validation(module):
    """``{'val_metrics': {...}, 'val_iteration': N}`` of the run's last validation (the tuning split's
    scores, which tools/tune.py ranks settings by); ``{}`` when it never validated."""
    metrics = getattr(module, "eval_metrics", None)
    if metrics is None:
        return {}
    numbers = {k: v for k, v in json_safe(metrics).items() if v is None or isinstance(v, (int, float))}
    return dict(val_metrics=numbers, val_iteration=module.eval_iteration)

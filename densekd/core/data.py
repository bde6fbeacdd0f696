"""Datasets and loaders from OpenMMLab-style config: resumable, seeded, DDP-aware."""
import os
import random

import lightning as L
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .errors import InvalidValue, MissingFile
from .registry import DATASETS, build, use_scope


def mix_seed(*numbers):
    """A deterministic 32-bit seed from a few integers (e.g. base seed, purpose, step)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


def _dataset_files(dataset_cfg):
    """The paths a dataset config reads: its root, annotation file, data folders and the GT database
    of its pipeline's object sampling (mmdet3d); through wrappers (``RepeatDataset``, ``ConcatDataset``)."""
    inner = [dataset_cfg["dataset"]] if isinstance(dataset_cfg.get("dataset"), dict) else []
    inner += list(dataset_cfg.get("datasets") or [])
    if inner:
        return [path for cfg in inner for path in _dataset_files(cfg)]
    root = dataset_cfg.get("data_root") or ""
    files = [dataset_cfg.get("ann_file") or ""]  # detection: one annotation file
    files += list((dataset_cfg.get("data_prefix") or {}).values())  # segmentation / 3D: data folders
    paths = [root, *(os.path.join(root, f) for f in files if f)]
    for step in dataset_cfg.get("pipeline") or []:
        if isinstance(step, dict) and isinstance(step.get("db_sampler"), dict):
            paths.append(step["db_sampler"].get("info_path") or "")
    return [p for p in paths if p]


def check_data_root(dataset_cfg, prepare_hint=None, split=None):
    """Fail early, naming the missing path and how to make it, when a dataset (``split`` of it) is not on disk."""
    root = dataset_cfg.get("data_root")
    for path in _dataset_files(dataset_cfg):
        if not os.path.exists(path):
            hint = f" Prepare it with: {prepare_hint}" if prepare_hint else \
                " Put the dataset there (see data/README.md) or set data_root with --cfg-options."
            # e.g. demo data made before its test split existed
            partial = split and root and path != root and os.path.isdir(root)
            where = f" ({root} is there, but not its {split} split)" if partial else ""
            raise MissingFile(f"dataset path not found: {path}{where}.{hint}")


class InfiniteSampler(Sampler):
    """Endless, seeded shuffle of a dataset, split across ranks, resumable at any iteration.

    The global sample stream visits a fresh permutation of the dataset every pass; rank ``r`` of
    ``world_size`` takes positions ``r, r + world_size, ...``. Each yielded item is
    ``(index, sample_seed)`` with the seed a function of the stream position alone, so that
    random augmentations repeat exactly after a resume. ``start`` is this rank's sample count to
    skip (``global_step * batch_size`` on resume).
    """

    def __init__(self, dataset_size, seed=0, rank=0, world_size=1, start=0):
        if dataset_size <= 0:
            raise InvalidValue("the training dataset is empty: check its ann_file and data_prefix")
        self.size, self.seed, self.rank, self.world_size, self.start = (
            dataset_size, seed, rank, world_size, start)

    def __iter__(self):
        position = self.start * self.world_size + self.rank
        epoch, order = -1, None
        while True:
            if position // self.size != epoch:
                epoch = position // self.size
                gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
                order = torch.randperm(self.size, generator=gen).tolist()
            yield order[position % self.size], mix_seed(self.seed, 1, position)
            position += self.world_size


class SeededDataset(Dataset):
    """Wraps a dataset so that ``dataset[(index, seed)]`` seeds Python/NumPy/torch RNGs first."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        return self.dataset[index]


def build_dataset(dataset_cfg, prepare_hint=None):
    """Build a dataset (of the current scope's library) from config, after checking that its files exist."""
    check_data_root(dataset_cfg, prepare_hint)
    return build(dataset_cfg, DATASETS)


class DataModule(L.LightningDataModule):
    """Train / val / test loaders from the config's ``*_dataloader`` entries (the OpenMMLab layout, any task).

    The files of ``splits`` are checked at construction, so a missing dataset stops a run early.
    """

    def __init__(self, cfg, splits=("train", "val", "test")):
        super().__init__()
        self.cfg = cfg
        use_scope(cfg)
        self.prepare_hint = cfg.get("data_prepare")
        self.seed = cfg.get("seed", 0)
        self._datasets = {}
        for split in splits:  # fail fast, before any model is built
            loader_cfg = cfg.get(f"{split}_dataloader")
            if loader_cfg is not None:
                check_data_root(loader_cfg["dataset"], self.prepare_hint, split)
            evaluators = cfg.get(f"{split}_evaluator") or []
            for evaluator in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
                if evaluator.get("ann_file") and not os.path.exists(evaluator["ann_file"]):
                    raise MissingFile(
                        f"{split}_evaluator.ann_file not found: {evaluator['ann_file']} — it does not follow "
                        f"data_root: set it too, e.g. --cfg-options {split}_evaluator.ann_file=DATA_ROOT/annotations/...")

    def dataset(self, split):
        """The (cached) dataset of ``split``."""
        if split not in self._datasets:
            self._datasets[split] = build_dataset(self.cfg[f"{split}_dataloader"]["dataset"],
                                                  self.prepare_hint)
        return self._datasets[split]

    def _rank_world(self):
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def train_dataloader(self):
        loader_cfg = self.cfg.train_dataloader
        dataset = self.dataset("train")
        batch_size = loader_cfg.get("batch_size", 2)
        rank, world = self._rank_world()
        start = self.trainer.global_step * batch_size if self.trainer is not None else 0
        sampler = InfiniteSampler(len(dataset), self.seed, rank, world, start=start)
        return DataLoader(SeededDataset(dataset), batch_size=batch_size, sampler=sampler,
                          num_workers=loader_cfg.get("num_workers", 0), collate_fn=pseudo_collate,
                          persistent_workers=loader_cfg.get("num_workers", 0) > 0)

    def _eval_dataloader(self, split):
        loader_cfg = self.cfg[f"{split}_dataloader"]
        dataset = self.dataset(split)
        rank, world = self._rank_world()
        # Padded, strided shards: the layout mmengine's collect_results expects.
        sampler = DistributedSampler(dataset, world, rank, shuffle=False) if world > 1 else None
        return DataLoader(dataset, batch_size=loader_cfg.get("batch_size", 1), sampler=sampler,
                          num_workers=loader_cfg.get("num_workers", 0), collate_fn=pseudo_collate)

    def val_dataloader(self):
        return self._eval_dataloader("val")

    def test_dataloader(self):
        return self._eval_dataloader("test")

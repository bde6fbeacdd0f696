"""What the synthetic dataset generators (shapes, street scenes, LiDAR scenes) share: their splits, each
item's random generator, the argument checks, and adding a report split to an earlier generation.

Every generator writes three disjoint splits: ``train``; ``val``, the tuning split (validation during
training and every choice of settings); ``test``, the report split (the numbers a README reports,
touched only by final runs). Item ``index`` of a split is drawn from its own generator seeded by
``(seed, split code, index)``, so a split's items depend neither on the other splits nor on their sizes.
"""
import numpy as np

from ..core.errors import InvalidValue

__all__ = ["SPLIT_CODES", "SPLITS", "item_rng", "check_int", "check_split_sizes", "adds_only_the_test_split"]

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
SPLITS = tuple(SPLIT_CODES)


def item_rng(seed, split, index):
    """The random generator of item ``index`` of ``split``: a function of (seed, split, index) alone."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def check_int(name, value, low, high=None):
    """Raise InvalidValue unless ``value`` is an integer (not a bool) in [low, high] (``high`` None: no bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidValue(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidValue(f"{name} must be {allowed}, got {value}")


def check_split_sizes(num_train, num_val, num_test):
    """Each split holds 1 to 1,000,000 items."""
    for split, size in zip(SPLITS, (num_train, num_val, num_test)):
        check_int(f"num_{split}", size, 1, 1_000_000)


def adds_only_the_test_split(old_args, args):
    """Whether a finished generation made with ``old_args`` differs from ``args`` only in its test split
    (another ``num_test``, or none: made before the generators wrote one), so that train and val stay."""
    if not old_args:
        return False
    return {k: v for k, v in old_args.items() if k != "num_test"} == {k: v for k, v in args.items() if k != "num_test"}

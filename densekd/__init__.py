"""densekd: knowledge distillation for dense prediction (OADP, ACAM-KD, PointDistiller).

Importing densekd registers its components in mmengine's root registries, so an mmdet, mmseg or mmdet3d config with
``custom_imports = dict(imports=['densekd'], allow_failed_imports=False)`` can build them.
"""
from mmdet.utils import register_all_modules as _register_mmdet

_register_mmdet(init_default_scope=False)

from .core import adapters, distiller, losses, masks  # noqa: E402,F401  (registration)
from .ovd import datasets, heads, metrics, pyramid, teacher_features  # noqa: E402,F401  (registration)
from .seg import metrics as _seg_metrics  # noqa: E402,F401  (registration)
from .seg import acam  # noqa: E402,F401  (registration)
from . import det3d  # noqa: E402,F401  (mmdet3d's KITTI metric made exact, spconv on CPU: det3d/compat.py)
from .core.distiller import Distiller, FeatureMimicDistiller  # noqa: E402
from .core.module import DistillModule  # noqa: E402
from .core.recorder import FeatureRecorder  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DistillModule", "Distiller", "FeatureMimicDistiller", "FeatureRecorder"]

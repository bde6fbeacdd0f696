"""Each model's own preprocessing: a teacher whose ``data_preprocessor`` differs from the student's (mean,
std, channel order, pad divisor; voxel size, point range, voxelization) preprocesses the student's augmented
batch itself; when the two agree, the teacher reads the student's preprocessed inputs and nothing extra runs."""
import copy

from .errors import InvalidValue

_ABSENT = object()


def _differences(student, teacher, key=""):
    """Dotted keys under which two config values differ (lists and tuples compare item by item)."""
    if isinstance(student, dict) and isinstance(teacher, dict):
        return [diff for name in sorted(set(student) | set(teacher), key=str)
                for diff in _differences(student.get(name, _ABSENT), teacher.get(name, _ABSENT),
                                         f"{key}.{name}" if key else str(name))]
    if isinstance(student, (list, tuple)) and isinstance(teacher, (list, tuple)):
        if len(student) == len(teacher) and not any(
                _differences(s, t) for s, t in zip(student, teacher)):
            return []
        return [key]
    return [] if student == teacher else [key]


def preprocessing_differences(student_model_cfg, teacher_model_cfg):
    """The ``data_preprocessor`` settings in which the teacher's model config differs from the student's,
    e.g. ``['bgr_to_rgb', 'mean', 'std']``; ``[]`` when they agree, or when the teacher names none (e.g. OADP's
    CLIP teacher): then the teacher reads the student's inputs."""
    if not teacher_model_cfg.get("data_preprocessor"):
        return []
    return _differences(dict(student_model_cfg.get("data_preprocessor") or {}),
                        dict(teacher_model_cfg.get("data_preprocessor") or {}))


def check_own_preprocessing(differences, student, teacher, distiller):
    """Refuse what cannot be distilled when the teacher preprocesses for itself (``differences`` non-empty):
    random batch augments in the student's preprocessor (the teacher would not see them), or a distiller that
    pairs voxel rows one to one (the two voxelizations hold different voxels). The teacher's own batch
    augments are switched off: it sees the student's augmented batch, nothing else."""
    if not differences:
        return
    said = ", ".join(differences)
    if getattr(student.data_preprocessor, "batch_augments", None):
        raise InvalidValue(f"the teacher's data_preprocessor differs from the student's ({said}) and the student's "
                           "has batch_augments, which the teacher's own preprocessing would not repeat: give both "
                           "models the same data_preprocessor, or move the augmentation into the train pipeline")
    if getattr(distiller, "pairs_voxel_rows", False):
        raise InvalidValue(f"{type(distiller).__name__} pairs the student's and the teacher's voxel features "
                           f"({', '.join(distiller.teacher_features)}) row to row, but the two models voxelize "
                           f"differently ({said}), so their rows are different voxels: give both the same "
                           "voxelization, or distill BEV maps instead (e.g. student_features=teacher_features="
                           "['backbone[0]'] with importance='teacher_channel_max'; maps of different sizes are "
                           "resized to the teacher's)")
    if getattr(teacher.data_preprocessor, "batch_augments", None):
        teacher.data_preprocessor.batch_augments = None


def own_preprocessing(model, batch):
    """``model``'s own training-time preprocessing of a collated ``batch`` (``inputs``, ``data_samples``) that
    the pipeline augmented; on copies of the data samples, into which preprocessors write padded shapes."""
    return model.data_preprocessor(dict(batch, data_samples=copy.deepcopy(batch["data_samples"])), training=True)

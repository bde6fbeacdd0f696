"""Distil any teacher / student pair of one task: the model family decides which features are recorded, one dummy
forward through each model gives their shapes and widths, the method's published defaults come from
``configs/_base_/distill/``, and the student's zoo schedule (epochs, mmengine schedulers) becomes densekd's
iteration schedule. The result is one complete config (``tools/distill.py`` writes it and trains it)."""
import datetime
import math
import os
from dataclasses import dataclass, field

import torch
from mmengine.config import Config

from .config import apply_overrides, load_config, read_config, resolve_config_path
from .data import build_dataset
from .errors import InvalidValue, MissingFile, UnknownKey
from .module import teacher_model_cfg
from .optim import lr_schedule_from_mmengine
from .recorder import FeatureRecorder, parse_path
from .registry import build, use_scope

DISTILL_DEFAULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "configs", "_base_", "distill")


@dataclass(frozen=True)
class Family:
    """A kind of model that densekd knows which features of to distil."""
    name: str  # in messages: "an FPN detector (mmdet)"
    library: str
    inputs: str  # 'images' or 'points'
    recorded: tuple  # the feature paths probed on both models
    methods: dict  # method -> its defaults' file in configs/_base_/distill/


FAMILIES = {
    "fpn_detector": Family("an FPN detector (mmdet)", "mmdet", "images", ("neck",),
                           dict(mimic="mimic_fpn.py", acam="acam_fpn.py")),
    "segmentor": Family("an encoder-decoder segmentor (mmseg)", "mmseg", "images", ("decode_head.conv_seg",),
                        dict(mimic="mimic_seg.py", acam="acam_seg.py")),
    "pillar_detector": Family("a pillar LiDAR detector (mmdet3d, PillarFeatureNet)", "mmdet3d", "points",
                              ("voxel_encoder",),
                              dict(mimic="mimic_pillars.py", pointdistiller="pointdistiller_pillars.py")),
    "voxel_detector": Family("a sparse-voxel LiDAR detector (mmdet3d, SparseEncoder)", "mmdet3d", "points",
                             ("backbone",), dict(mimic="mimic_bev.py", pointdistiller="pointdistiller_second.py")),
}
METHODS = sorted({method for family in FAMILIES.values() for method in family.methods} | {"oadp"})
PROBE_IMAGE_SIZE = (256, 256)  # divisible by every FPN stride up to 128
PROBE_POINTS = 20000
# mmengine Runner settings that densekd's Lightning trainer replaces; left out of the written config.
RUNNER_KEYS = ("default_hooks", "env_cfg", "log_processor", "visualizer", "vis_backends", "log_level", "launcher",
               "resume", "param_scheduler", "val_cfg", "test_cfg", "auto_scale_lr", "randomness", "tta_model",
               "tta_pipeline")
# What the distillation adds or sets, written first; the student's own config follows.
DISTILLATION_KEYS = ("teacher", "distiller", "teacher_forward", "student_forward", "train_cfg", "lr_schedule",
                     "optim_wrapper", "trainer", "seed")


def family_of(cfg, role):
    """The :data:`FAMILIES` key of a full config's model; a model densekd cannot pair is refused, saying why."""
    scope, model = cfg.get("default_scope") or "mmdet", cfg.model
    if scope == "mmdet" and "FPN" in str((model.get("neck") or {}).get("type", "")):
        return "fpn_detector"
    if scope == "mmseg" and model.get("decode_head") is not None:
        return "segmentor"
    if scope == "mmdet3d" and (model.get("voxel_encoder") or {}).get("type") == "PillarFeatureNet":
        return "pillar_detector"
    if scope == "mmdet3d" and (model.get("middle_encoder") or {}).get("type") == "SparseEncoder":
        return "voxel_detector"
    raise InvalidValue(f"the {role}'s model ({scope} {model.get('type')}) is none of the families densekd pairs: "
                       f"{'; '.join(f.name for f in FAMILIES.values())}")


def method_defaults(method, family_key, teacher_family):
    """The method's published defaults for the family (a config with ``distiller`` and maybe forwards)."""
    if method == "oadp":
        raise InvalidValue("OADP distils a CLIP teacher into an open-vocabulary detector, not one detector into "
                           "another: start from configs/oadp_coco.py (see docs/oadp.md)")
    family = FAMILIES[family_key]
    if family_key != teacher_family:
        raise InvalidValue(f"the teacher is {FAMILIES[teacher_family].name} and the student {family.name}: densekd "
                           "distils within one task and one kind of feature; pick a teacher of the student's kind")
    if method not in family.methods:
        known = sorted(m for f in FAMILIES.values() for m in f.methods)
        if method not in known:
            raise UnknownKey(f"unknown method {method!r}: densekd has {', '.join(METHODS)}")
        raise InvalidValue(f"{method} does not fit {family.name}: its methods are {', '.join(sorted(family.methods))}")
    path = os.path.join(DISTILL_DEFAULTS, family.methods[method])
    if not os.path.isfile(path):
        raise InvalidValue(f"the method defaults {path} are missing: densekd reads them from its repository's "
                           "configs/ folder; install densekd from its repository (pip install -e .)")
    return read_config(path), path


def _dummy_batch(model_cfg, family):
    """One input that ``model_cfg``'s data preprocessor takes: a black image, or points spread over its range."""
    if family.inputs == "images":
        return dict(inputs=[torch.zeros(3, *PROBE_IMAGE_SIZE, dtype=torch.uint8)], data_samples=None)
    low, high = torch.tensor(model_cfg.data_preprocessor.voxel_layer.point_cloud_range).view(2, 3)
    generator = torch.Generator().manual_seed(0)
    xyz = low + (high - low) * torch.rand(PROBE_POINTS, 3, generator=generator)
    return dict(inputs=dict(points=[torch.cat([xyz, torch.rand(PROBE_POINTS, 1, generator=generator)], 1)]),
                data_samples=None)


@torch.no_grad()
def probe_features(model_cfg, family, forward):
    """``{path: feature or tuple of features}`` of the family's recorded paths, from one dummy forward of a
    randomly initialised ``model_cfg`` through its own data preprocessor."""
    model = build(model_cfg).eval()
    recorder = FeatureRecorder(model, family.recorded)
    with recorder:
        data = model.data_preprocessor(_dummy_batch(model_cfg, family), False)
        getattr(model, forward)(data["inputs"])
    return dict(recorder.records)


@dataclass(frozen=True)
class FeaturePair:
    """A recorded student feature, the teacher feature it learns from, and their probed shapes."""
    student: str
    student_shape: tuple
    teacher: str
    teacher_shape: tuple

    @staticmethod
    def width(shape):
        """Channels of a (N, C, H, W) map or of (P, C) vectors."""
        return shape[1] if len(shape) == 4 else shape[-1]

    def __str__(self):
        return f"student {self.student} {self.student_shape} -> teacher {self.teacher} {self.teacher_shape}"


@dataclass
class Pairing:
    """What :func:`plan_distillation` decided: the config and the feature pairs with their shapes."""
    config: Config
    pairs: list  # FeaturePair
    probe: str  # the dummy input the shapes come from
    notes: list = field(default_factory=list)  # one line each: what was inferred, from where
    header: str = ""

    def pairs_table(self):
        return "\n".join([f"feature pairs (shapes from {self.probe}):", *(f"  {pair}" for pair in self.pairs)])


def _fpn_pairs(method, student, teacher):
    """FPN levels paired by spatial size (detectors whose FPNs start at different strides pair what they share)."""
    s_levels, t_levels = student["neck"], teacher["neck"]
    if method == "acam":  # one fusion module over the whole level tuple, in order
        if [l.shape[-2:] for l in s_levels] != [l.shape[-2:] for l in t_levels]:
            raise InvalidValue("ACAM-KD pairs the two FPNs level by level, but their levels differ "
                               f"({[tuple(l.shape) for l in s_levels]} vs {[tuple(l.shape) for l in t_levels]}): pair "
                               "detectors "
                               "whose FPNs have the same levels, or use --method mimic (it pairs levels by size)")
        return [FeaturePair("neck", tuple(s_levels[0].shape), "neck", tuple(t_levels[0].shape))]
    pairs, free = [], list(range(len(t_levels)))
    for i, level in enumerate(s_levels):
        match = next((j for j in free if t_levels[j].shape[-2:] == level.shape[-2:]), None)
        if match is not None:
            free.remove(match)
            pairs.append(FeaturePair(f"neck[{i}]", tuple(level.shape), f"neck[{match}]", tuple(t_levels[match].shape)))
    if not pairs:
        raise InvalidValue("no FPN level of the student has the size of a teacher level: their strides differ")
    return pairs


def _feature_pairs(family_key, method, student, teacher, distiller):
    """The family's :class:`FeaturePair` list, from the probed features (BEV stages: the method's own)."""
    if family_key == "fpn_detector":
        return _fpn_pairs(method, student, teacher)
    if family_key == "voxel_detector":
        stages = [parse_path(p) for p in distiller.student_features]
        return [FeaturePair(f"{m}[{i}]", tuple(student[m][i].shape), f"{m}[{i}]", tuple(teacher[m][i].shape))
                for m, i in stages]
    path = FAMILIES[family_key].recorded[0]
    return [FeaturePair(path, tuple(student[path].shape), path, tuple(teacher[path].shape))]


def stage_shares(shares, shapes):
    """PointDistiller's graph-size shares for BEV stages of ``shapes`` (N, C, H, W): the reference takes as many
    centres (neighbours) on every stage, so a stage's share is the first one's (``shares``, a share or a list
    whose first entry counts) times how many times fewer positions it has, at most 1."""
    first = shares[0] if isinstance(shares, (list, tuple)) else shares
    positions = [shape[2] * shape[3] for shape in shapes]
    return [min(1.0, first * positions[0] / n) for n in positions]


def _fill_distiller(family_key, method, distiller, pairs):
    """The method's defaults with the pairs' paths and widths; returns notes on what was inferred."""
    s_widths = [FeaturePair.width(p.student_shape) for p in pairs]
    t_widths = [FeaturePair.width(p.teacher_shape) for p in pairs]
    notes = [f"widths: student {s_widths}, teacher {t_widths}"]
    distiller.student_features = [p.student for p in pairs]
    distiller.teacher_features = [p.teacher for p in pairs]
    if method == "pointdistiller":
        distiller.update(student_channels=s_widths if len(pairs) > 1 else s_widths[0],
                         teacher_channels=t_widths if len(pairs) > 1 else t_widths[0],
                         width=s_widths if len(pairs) > 1 else s_widths[0])
        if len(pairs[0].teacher_shape) == 4:  # BEV stages: the defaults' first-stage shares, carried to each
            for key in ("centre_share", "neighbour_share"):
                distiller[key] = stage_shares(distiller[key], [p.teacher_shape for p in pairs])
            notes.append(f"graph sizes: {distiller.centre_share} / {distiller.neighbour_share} of each BEV stage "
                         "(as many centres and neighbours on every stage, as the reference)")
    elif method == "mimic":
        if "channels" in distiller:  # LiDAR features: widths given, no dummy image forward at build time
            distiller.channels = [(s, t) for s, t in zip(s_widths, t_widths)]
        if s_widths != t_widths and not distiller.get("adapter"):
            distiller.adapter = dict(type="ConvAdapter", norm=False)
            notes.append("widths differ: a 1x1 conv adapter maps the student's to the teacher's")
    elif method == "acam" and family_key == "segmentor":
        if s_widths != t_widths:
            raise InvalidValue(f"the student's decode head predicts {s_widths[0]} classes and the teacher's "
                               f"{t_widths[0]}: logits pair only over the same classes")
        distiller.num_masks = t_widths[0]
        notes.append(f"num_masks = {t_widths[0]} (one mask per class, the paper's setting)")
    return notes


def iteration_schedule(cfg, devices=None, max_iters=None):
    """Turn a zoo config's mmengine schedule (``EpochBasedTrainLoop`` / ``IterBasedTrainLoop`` and
    ``param_scheduler``) into densekd's ``train_cfg`` (iterations) and ``lr_schedule``, in place. An epoch is
    the train set over the recipe's total batch (``auto_scale_lr.base_batch_size``, else batch x devices),
    which needs the train set on disk, unless ``max_iters`` fixes the length (epochs then scale to it).
    Returns notes; a densekd config (``train_cfg.max_iters``) is left as is."""
    train_cfg = cfg.get("train_cfg") or {}
    if "max_iters" in train_cfg and "type" not in train_cfg:
        return []
    batch = cfg.train_dataloader.get("batch_size", 1)
    total_batch = (cfg.get("auto_scale_lr") or {}).get("base_batch_size") or batch * (devices or 1)
    by_epoch = train_cfg.get("type") != "IterBasedTrainLoop" and "max_epochs" in train_cfg
    notes = []
    per_epoch = 1
    if by_epoch and max_iters:
        per_epoch = max_iters / train_cfg.max_epochs
        notes.append(f"schedule: the student's {train_cfg.max_epochs} epochs scaled to train_cfg.max_iters={max_iters}")
    elif by_epoch:
        try:
            images = len(build_dataset(cfg.train_dataloader.dataset, cfg.get("data_prepare")))
        except FileNotFoundError as err:
            raise MissingFile(f"the student's schedule counts {train_cfg.max_epochs} epochs, and counting an epoch's "
                              f"iterations needs its train set: {err} Or give the length in iterations: "
                              "--cfg-options train_cfg.max_iters=N") from None
        per_epoch = math.ceil(images / total_batch)
        notes.append(f"schedule: {train_cfg.max_epochs} epochs of {images} samples at a total batch of {total_batch} "
                     f"= {train_cfg.max_epochs * per_epoch} iterations ({per_epoch} an epoch)")
    max_iters = round(train_cfg.max_epochs * per_epoch) if by_epoch else train_cfg.get("max_iters")
    val_interval = max(1, round(train_cfg.get("val_interval", 1) * per_epoch)) if by_epoch \
        else train_cfg.get("val_interval", max_iters)
    hooks = cfg.get("default_hooks") or {}
    new = dict(max_iters=max_iters, val_interval=val_interval, checkpoint_interval=val_interval,
               log_interval=(hooks.get("logger") or {}).get("interval", 50))
    best = (hooks.get("checkpoint") or {}).get("save_best")
    if isinstance(best, str) and best != "auto":
        new["best_metric"] = best
    cfg.train_cfg = new
    cfg.lr_schedule = lr_schedule_from_mmengine(cfg.get("param_scheduler"), cfg.optim_wrapper.optimizer.lr, per_epoch)
    if total_batch > batch and "trainer" not in cfg:
        cfg.trainer = dict(devices=total_batch // batch)
        notes.append(f"trainer.devices = {total_batch // batch}: the recipe's total batch {total_batch} at "
                     f"{batch} a device (use --devices to change)")
    notes.append(f"lr_schedule from the student's param_scheduler: {dict(cfg.lr_schedule)}")
    return notes


# Overrides of these keys apply to the composed config (they exist, or take densekd's form, only there).
COMPOSED_KEYS = ("teacher", "distiller", "teacher_forward", "student_forward", "train_cfg", "lr_schedule", "trainer")


def _split_overrides(options):
    """(overrides of the student's config, overrides of the composed config: :data:`COMPOSED_KEYS`)."""
    later = {k: v for k, v in options.items() if k.lstrip("+").split(".")[0] in COMPOSED_KEYS}
    return {k: v for k, v in options.items() if k not in later}, later


def plan_distillation(teacher, teacher_checkpoint, student, method, cfg_options=None, devices=None):
    """Compose the densekd config distilling ``teacher`` (a config file or zoo name, with its checkpoint) into
    ``student`` with ``method``; ``cfg_options`` override the result. Returns a :class:`Pairing`."""
    cfg = load_config(student)
    now, later = _split_overrides(cfg_options or {})
    apply_overrides(cfg, now)
    teacher_cfg = load_config(teacher, required=("model",))
    use_scope(cfg)
    family_key = family_of(cfg, "student")
    defaults, defaults_path = method_defaults(method, family_key, family_of(teacher_cfg, "teacher"))
    if (teacher_cfg.get("default_scope") or "mmdet") != (cfg.get("default_scope") or "mmdet"):
        raise InvalidValue("the teacher and the student come from different libraries: densekd distils within one task")
    family = FAMILIES[family_key]
    forward = dict(teacher=defaults.get("teacher_forward", "extract_feat"),
                   student=defaults.get("student_forward", "extract_feat"))
    teacher_ref = dict(config=teacher, checkpoint=teacher_checkpoint)
    student_feats = probe_features(cfg.model, family, forward["student"])
    teacher_feats = probe_features(teacher_model_cfg(teacher_ref), family, forward["teacher"])
    distiller = defaults.distiller.copy()
    pairs = _feature_pairs(family_key, method, student_feats, teacher_feats, distiller)
    notes = [f"method: {method}, defaults from configs/_base_/distill/{os.path.basename(defaults_path)}"]
    notes += _fill_distiller(family_key, method, distiller, pairs)
    notes += iteration_schedule(cfg, devices, later.get("train_cfg.max_iters"))
    cfg.teacher = teacher_ref
    cfg.distiller = distiller
    for role in ("teacher", "student"):
        if f"{role}_forward" in defaults:
            cfg[f"{role}_forward"] = defaults[f"{role}_forward"]
    apply_overrides(cfg, later)
    header = "\n".join([
        f"# densekd distillation config, written by tools/distill.py on {datetime.date.today()}.",
        f"#   teacher: {teacher}  ({teacher_checkpoint})",
        f"#   student: {student}" + (f"  ({resolve_config_path(student)})" if "::" in student else ""),
        *[f"#   {note}" for note in notes],
        f"# The mmengine runner's own settings ({', '.join(k for k in RUNNER_KEYS if k in cfg)}) are left out:",
        "# densekd's Lightning trainer does their work. Re-run: python tools/train.py THIS_FILE"])
    kept = {k: v for k, v in cfg.items() if k not in RUNNER_KEYS}
    probe = f"one dummy 1x3x{PROBE_IMAGE_SIZE[0]}x{PROBE_IMAGE_SIZE[1]} image" if family.inputs == "images" \
        else f"{PROBE_POINTS} dummy points"
    return Pairing(Config(kept), pairs, probe, notes, header)


def write_config(pairing, path):
    """Write the pairing's config as a readable Python config: the header and the feature pairs as comments,
    then what the distillation sets (teacher, distiller, schedule), then the student's model, data and metrics."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    table = "\n".join(f"# {line}" for line in pairing.pairs_table().splitlines())
    cfg = pairing.config
    first = [k for k in DISTILLATION_KEYS if k in cfg]
    rest = sorted(k for k in cfg if k not in first)
    sections = ["# --- the distillation ---", *(Config({k: cfg[k]}).pretty_text.strip() for k in first),
                "\n# --- the student: model, data, evaluation ---",
                *(Config({k: cfg[k]}).pretty_text.strip() for k in rest)]
    with open(path, "w") as f:
        f.write(f"{pairing.header}\n{table}\n\n" + "\n".join(sections) + "\n")
    return path

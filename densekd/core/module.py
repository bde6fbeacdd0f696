"""DistillModule: a student, a frozen teacher and a distiller, trained by Lightning."""
import os
import random
from collections import OrderedDict

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from mmengine.evaluator import Evaluator
from torch import nn

from .activity import dead_feature_warning
from .errors import Diverged, InvalidValue, MissingFile, UnknownKey
from .data import mix_seed
from .grad_shares import (check_grad_share_features, check_grad_share_interval, grad_share_metrics,
                          gradient_shares)
from .masks import collapse_warning, pop_mask_statistics
from .optim import build_lr_scheduler, build_optimizer
from .preprocessing import check_own_preprocessing, own_preprocessing, preprocessing_differences
from .recorder import FeatureRecorder
from .registry import METRICS, build, use_scope

TEACHER_PREFIX = "teacher."
STUDENT_PREFIX = "student."
MASK_CHECK_INTERVAL = 50  # steps between checks that the distiller's learned masks have not collapsed


def load_state_dict_file(path, what="checkpoint", hint=""):
    """Load a densekd/Lightning or native OpenMMLab checkpoint's weights (``weights_only``)."""
    from .checkpoint import load_checkpoint, state_dict_of

    return state_dict_of(load_checkpoint(path, what, hint), path, what)


def _keep_metadata(state, source, prefix=""):
    """Give ``state`` the per-module versions (``_metadata``) of ``source``, with ``prefix`` removed: some
    modules read them when loading (spconv's layers: a weight without version 2 is taken for spconv 1's
    layout and permuted)."""
    metadata = getattr(source, "_metadata", None)
    if metadata is not None:
        root = prefix.rstrip(".")
        state._metadata = OrderedDict(
            ("" if name == root else name[len(prefix):], value) for name, value in metadata.items()
            if not prefix or name == root or name.startswith(prefix))
    return state


def strip_prefix(state_dict, prefix):
    """Keep the entries under ``prefix`` without it; a state dict without the prefix is returned as is."""
    if not any(k.startswith(prefix) for k in state_dict):
        return state_dict
    stripped = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    return _keep_metadata(stripped, state_dict, prefix)


def load_student_weights(student, checkpoint):
    """Load a densekd training checkpoint or an exported student into ``student`` (strict)."""
    state = strip_prefix(load_state_dict_file(checkpoint, "checkpoint"), STUDENT_PREFIX)
    student.load_state_dict(state, strict=True)
    return student


def load_student_for_inference(config, checkpoint, cfg_options=None):
    """The student of ``config`` (with ``cfg_options``) holding ``checkpoint``'s weights (a densekd training
    checkpoint or an exported student), in eval mode, with ``model.cfg`` set to the config: the OpenMMLab
    inference APIs (mmdet, mmseg, mmdet3d) read the test pipeline from there."""
    from .config import load_config

    cfg = load_config(config, cfg_options)
    use_scope(cfg)
    model = load_student_weights(build(cfg.model), checkpoint)
    model.cfg = cfg
    return model.eval()


def _group_names(names, depth=2):
    """``['a.b.c', 'a.b.d', 'x.y']`` -> ``'a.b (2), x.y (1)'``: a short summary of state-dict keys."""
    groups = {}
    for name in names:
        prefix = ".".join(name.split(".")[:depth])
        groups[prefix] = groups.get(prefix, 0) + 1
    return ", ".join(f"{k} ({n})" for k, n in groups.items()) or "none"


def load_matching(model, state):
    """Load the entries of ``state`` whose name and shape match ``model``'s; return them."""
    own = model.state_dict()
    matched = _keep_metadata(OrderedDict((k, v) for k, v in state.items() if k in own and own[k].shape == v.shape),
                             state)
    model.load_state_dict(matched, strict=False)
    return matched


def load_exactly(model, state, what, todo):
    """Load ``state`` into ``model`` (strict); entries that do not fit raise one line naming their groups."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    reshaped = sorted(k for k in own if k in state and getattr(own[k], "shape", 0) != getattr(state[k], "shape", 0))
    if missing or unexpected or reshaped:
        raise InvalidValue(f"{what} does not fit the model: missing {_group_names(missing)}; not in the model: "
                           f"{_group_names(unexpected)}; of another shape: {_group_names(reshaped)} — {todo}")
    model.load_state_dict(state, strict=True)


def load_pretrained_student(student, checkpoint):
    """Start ``student`` from another model's weights (the config's ``load_from``: e.g. a SoCo
    detector, or a detector pretrained on base classes only): every entry whose name and shape match
    is loaded, the rest keep their initialisation. Returns a one-paragraph report of what happened."""
    state = strip_prefix(load_state_dict_file(checkpoint, "load_from checkpoint",
                                              "put the weights file there, or set `load_from` to where it is"),
                         STUDENT_PREFIX)
    own = student.state_dict()
    matched = load_matching(student, state)
    if not matched:
        raise InvalidValue(f"load_from {checkpoint}: no entry matches the student by name and shape (it has "
                           f"{_group_names(sorted(state), 1)}; the student {_group_names(sorted(own), 1)}) — "
                           "is it a checkpoint of the same kind of model?")
    reshaped = sorted(k for k in state if k in own and k not in matched)
    return (f"load_from {checkpoint}: loaded {len(matched)} of the student's {len(own)} entries "
            f"({_group_names(sorted(matched))}); initialised as before: "
            f"{_group_names(sorted(set(own) - set(matched)))}; skipped for their shape: {_group_names(reshaped)}; "
            f"not in the student: {_group_names(sorted(set(state) - set(own)))}")


def inherit_teacher_weights(student, teacher, prefixes):
    """Start the student's ``prefixes`` (e.g. ``['neck', 'bbox_head']``) from the teacher's weights
    where names and shapes match ("inheritance", as ACAM-KD and FGD do for detectors). Returns a report."""
    own = student.state_dict()
    teacher_state = teacher.state_dict()
    wanted = {k: v for k, v in teacher_state.items() if k.split(".")[0] in prefixes and k in own}
    matched = _keep_metadata(OrderedDict((k, v) for k, v in wanted.items() if own[k].shape == v.shape), teacher_state)
    if not any(v.dim() > 0 for v in matched.values()):  # BN step counters alone are no inheritance
        raise InvalidValue(f"inherit_from_teacher={list(prefixes)}: no teacher weight under these prefixes "
                           "matches the student by name and shape — the widths differ (inheritance needs "
                           "equal neck/head widths), or the prefixes are not top-level module names "
                           f"(the student's are: {sorted({k.split('.')[0] for k in own})})")
    load_matching(student, matched)
    return (f"inherit_from_teacher: {len(matched)} of the student's entries under {list(prefixes)} start from "
            f"the teacher's; kept as initialised for their shape: {_group_names(sorted(set(wanted) - set(matched)))}")


def check_local_weights(model_cfg):
    """Fail before building when a config's ``pretrained`` / ``init_cfg`` names a local weights file
    that is not there (densekd loads ImageNet backbones from local files, never from the network)."""
    paths = []

    def visit(node):
        if isinstance(node, dict):
            if isinstance(node.get("pretrained"), str):
                paths.append(node["pretrained"])
            init = node.get("init_cfg")
            if isinstance(init, dict) and init.get("type") == "Pretrained" and isinstance(init.get("checkpoint"), str):
                paths.append(init["checkpoint"])
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(model_cfg)
    for path in paths:
        if "://" not in path and not os.path.isfile(path):
            raise MissingFile(
                f"pretrained weights not found: {path} — download them (the config's comment names them) "
                "and put them there, or train from scratch with --cfg-options model.pretrained=None "
                "(mmseg) / model.backbone.init_cfg=None (mmdet)")


def teacher_model_cfg(teacher_cfg):
    """The teacher's model config: ``teacher.model``, or the ``model`` of ``teacher.config`` (a file or a zoo name)."""
    if "model" in teacher_cfg:
        return teacher_cfg["model"]
    from .config import load_config, resolve_config_path

    config_path = teacher_cfg["config"]
    if not os.path.isfile(resolve_config_path(config_path)):
        raise MissingFile(f"teacher config not found: {config_path}")
    return load_config(config_path, required=("model",)).model


def build_teacher(teacher_cfg):
    """Build the teacher from ``dict(config=PATH or model=DICT, checkpoint=PATH)``, frozen, eval."""
    source = teacher_cfg.get("config", "the teacher's config")
    teacher = build(teacher_model_cfg(teacher_cfg))
    checkpoint = teacher_cfg.get("checkpoint")
    if checkpoint is None:
        if getattr(teacher, "loads_own_weights", False):  # e.g. a CLIP teacher from its own config
            teacher.requires_grad_(False)
            return teacher.eval()
        raise InvalidValue("teacher.checkpoint is not set: a teacher must be trained weights")
    hint = f"train the teacher first with `python tools/train.py {source}`" \
        if "config" in teacher_cfg else "train the teacher first"
    state = strip_prefix(load_state_dict_file(checkpoint, "teacher checkpoint", hint), STUDENT_PREFIX)
    load_exactly(teacher, state, f"teacher checkpoint {checkpoint}",
                 f"give a checkpoint of the model that {source} builds (a student's or another width's does not "
                 "fit), or set teacher.config to the config it was trained with")
    teacher.requires_grad_(False)
    return teacher.eval()


def _copy_tensors(inputs):
    """``inputs`` with every tensor (in nested dicts, lists and tuples) cloned."""
    if torch.is_tensor(inputs):
        return inputs.clone()
    if isinstance(inputs, dict):
        return type(inputs)((k, _copy_tensors(v)) for k, v in inputs.items())
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_copy_tensors(v) for v in inputs)
    return inputs


class DistillModule(L.LightningModule):
    """Trains ``student`` (an OpenMMLab model: mmdet, mmseg, ...) with its own losses plus the distiller's.

    Without ``teacher`` and ``distiller`` it simply trains the student (used for teachers and
    baselines). The teacher is frozen, outside the optimizer, run under ``torch.no_grad()``, kept
    in eval mode whatever Lightning asks, and never written into checkpoints. It reads the student's
    preprocessed inputs, unless ``teacher_preprocessing`` names settings in which its ``data_preprocessor``
    differs (e.g. ``['mean', 'std']``): then it preprocesses the same augmented batch itself.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module = None, distiller: nn.Module = None,
                 optim_wrapper=None, lr_schedule=None, max_iters=1, evaluators=None, seed=0,
                 teacher_forward="extract_feat", student_forward="extract_feat", dummy_input_size=(64, 64),
                 teacher_preprocessing=(), grad_share_interval=0, grad_share_features=None):
        super().__init__()
        if (teacher is None) != (distiller is None):
            raise InvalidValue("give both a teacher and a distiller, or neither (plain training)")
        self.student = student
        self.distiller = distiller
        self.teacher = teacher
        self.teacher_forward = teacher_forward
        self.student_forward = student_forward  # reaches every recorded student feature (build-time check)
        self.teacher_preprocessing = list(teacher_preprocessing)
        if teacher is not None:
            teacher.requires_grad_(False)
            check_own_preprocessing(self.teacher_preprocessing, student, teacher, distiller)
            # Gradient shares are measured where the task's gradient and the distiller's meet: by default the
            # features the distiller reads, or the given ones (OADP's branches are off the task's path).
            self.grad_share_features = list(check_grad_share_features(grad_share_features)
                                            or distiller.student_features)
            self.student_recorder = FeatureRecorder(
                student, list(dict.fromkeys([*distiller.student_features, *self.grad_share_features])))
            self.teacher_recorder = FeatureRecorder(teacher, distiller.teacher_features)
            if distiller.lazy:
                self._materialize(dummy_input_size)
        self.optim_wrapper_cfg = optim_wrapper or dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9))
        self.lr_schedule = dict(lr_schedule or {})
        self.max_iters = max_iters
        self.evaluator_cfgs = evaluators or {}  # split -> metric config(s)
        self.seed = seed
        self.grad_share_interval = check_grad_share_interval(grad_share_interval)  # 0: off
        self._collapsed = set()  # the mask modules already warned about

    @classmethod
    def from_config(cls, cfg, with_teacher=True, init_weights=False):
        """Build from a densekd config: ``model`` (the student), optional ``teacher`` and ``distiller``.

        ``init_weights`` applies the student's mmengine ``init_cfg`` (e.g. an ImageNet-pretrained
        backbone) and then the config's ``load_from`` (another model's checkpoint, loaded where
        names and shapes match), as a fresh training run must; runs that load a checkpoint skip both.
        """
        distill = with_teacher and cfg.get("teacher") is not None
        if distill and cfg.get("distiller") is None:
            raise UnknownKey("the config has a 'teacher' but no 'distiller': add one, e.g. "
                             "distiller = dict(type='FeatureMimicDistiller', ...)")
        use_scope(cfg)  # the library (mmdet, mmseg, ...) that the config's type names belong to
        if init_weights:
            check_local_weights(cfg.model)
        student = build(cfg.model)
        if init_weights and hasattr(student, "init_weights"):
            student.init_weights()
        if init_weights and cfg.get("load_from"):
            print(load_pretrained_student(student, cfg.load_from), flush=True)
        teacher = build_teacher(cfg.teacher) if distill else None
        differences = preprocessing_differences(cfg.model, teacher_model_cfg(cfg.teacher)) if distill else []
        if differences:
            print(f"the teacher preprocesses each batch itself: its data_preprocessor differs from the student's in "
                  f"{', '.join(differences)}", flush=True)
        if init_weights and teacher is not None and cfg.get("inherit_from_teacher"):
            print(inherit_teacher_weights(student, teacher, cfg.inherit_from_teacher), flush=True)
        return cls(
            student=student,
            teacher=teacher,
            distiller=build(cfg.distiller) if distill else None,
            optim_wrapper=cfg.get("optim_wrapper"),
            lr_schedule=cfg.get("lr_schedule"),
            max_iters=cfg.train_cfg.max_iters,
            evaluators=dict(val=cfg.get("val_evaluator"), test=cfg.get("test_evaluator")),
            seed=cfg.get("seed", 0),
            teacher_forward=cfg.get("teacher_forward", "extract_feat"),
            student_forward=cfg.get("student_forward", "extract_feat"),
            teacher_preprocessing=differences,
            grad_share_interval=cfg.train_cfg.get("grad_share_interval", 0),
            grad_share_features=cfg.train_cfg.get("grad_share_features"),
        )

    # --- the teacher stays frozen -------------------------------------------------------------
    def train(self, mode=True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def on_save_checkpoint(self, checkpoint):
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(TEACHER_PREFIX)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint):
        if self.teacher is not None:  # rebuilt from its own checkpoint; put it back for strict loading
            state = checkpoint["state_dict"]
            for key, value in self.teacher.state_dict().items():
                state[TEACHER_PREFIX + key] = value

    # --- training -----------------------------------------------------------------------------
    def _run_teacher(self, images, data_samples=None):
        """Run the teacher on a copy of the inputs (some models write into theirs: mmdet3d's PointPillars
        encoder overwrites the voxels' xyz in place, so the student would train on altered points it never
        sees at test time); one that reads annotations or metadata (``takes_data_samples``) gets them too."""
        forward = getattr(self.teacher, self.teacher_forward)
        images = _copy_tensors(images)
        if getattr(self.teacher, "takes_data_samples", False):
            return forward(images, data_samples)
        return forward(images)

    @torch.no_grad()
    def _materialize(self, input_size):
        """One dummy forward through both models so the distiller can infer widths and check shapes."""
        images = torch.zeros(1, 3, *input_size)
        was_training = self.student.training
        self.student.eval()
        with self.student_recorder, self.teacher_recorder:
            getattr(self.student, self.student_forward)(images)
            self._run_teacher(images)
        self.student.train(was_training)
        self.distiller.materialize(self.student_recorder.records, self.teacher_recorder.records)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # the student's data_preprocessor moves inputs and data samples itself

    def on_train_batch_start(self, batch, batch_idx):
        # Every step's randomness (RoI sampling, dropout) is a function of (seed, step, rank)
        # alone, so a resumed run repeats an uninterrupted one exactly.
        step_seed = mix_seed(self.seed, 2, self.global_step, self.global_rank)
        random.seed(step_seed)
        np.random.seed(step_seed)
        torch.manual_seed(step_seed)

    def training_step(self, batch, batch_idx):
        data = self.student.data_preprocessor(batch, training=True)
        if self.teacher is None:
            losses = self.student.loss(data["inputs"], data["data_samples"])
            distill_losses = {}
        else:
            with torch.no_grad(), self.teacher_recorder:
                teacher_data = own_preprocessing(self.teacher, batch) if self.teacher_preprocessing else data
                self._run_teacher(teacher_data["inputs"], teacher_data["data_samples"])
            with self.student_recorder:
                losses = self.student.loss(data["inputs"], data["data_samples"])
            distill_losses = self.distiller(self.student_recorder.records,
                                            self.teacher_recorder.records, data, self.global_step)
            if self.global_step == 0:
                self._warn_dead_teacher_features()
        task_loss, log_vars = self.student.parse_losses(losses)
        total = task_loss + sum(distill_losses.values())
        named = {**{k: v for k, v in log_vars.items() if k != "loss"}, **distill_losses}
        if not torch.isfinite(total):
            bad = [k for k, v in named.items() if torch.is_tensor(v) and not torch.isfinite(v).all()]
            raise Diverged(
                f"non-finite loss at step {self.global_step}: {bad or ['loss']} "
                f"(total {total.item()}). Training stopped; the last checkpoint is left as it was. "
                "Lower the learning rate or the loss weights, or add warm-up."
            )
        if self.grad_share_interval and self.teacher is not None and self.global_step % self.grad_share_interval == 0:
            self._log_gradient_shares(task_loss, distill_losses)
        batch_size = len(data["data_samples"])
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=batch_size)
        for name, value in named.items():
            self.log(f"train/{name}", value.detach() if torch.is_tensor(value) else value, batch_size=batch_size)
        if self.distiller is not None:
            self._monitor_masks(batch_size)
        return total

    def _warn_dead_teacher_features(self):
        """Warn once, on the first step, about each teacher feature the distiller reads that is nearly all zeros."""
        for path, feature in self.teacher_recorder.records.items():
            message = dead_feature_warning(path, feature)
            if message:
                rank_zero_warn(message)

    def _monitor_masks(self, batch_size):
        """Log the statistics of the distiller's learned masks (``train/masks/<module>/<statistic>``) and warn once
        per mask module, checked every MASK_CHECK_INTERVAL steps from that step on (at step 0 the attention of a
        fresh distiller is near uniform, and masks made from it are flat before anything is learnt), when most of
        its masks have gone flat or duplicate one another."""
        check = self.global_step > 0 and self.global_step % MASK_CHECK_INTERVAL == 0
        for name, stats in pop_mask_statistics(self.distiller).items():
            for key, value in stats.items():
                self.log(f"train/masks/{name}/{key}", value, batch_size=batch_size)
            message = collapse_warning(name, stats, self.global_step) if check and name not in self._collapsed else None
            if message:
                self._collapsed.add(name)
                rank_zero_warn(message)

    def _log_gradient_shares(self, task_loss, distill_losses):
        """Write each distillation loss's gradient share at each of ``grad_share_features`` straight to the loggers
        (rank 0): ``self.log`` would reach them only on ``log_interval`` steps, which need not be these."""
        if self.global_rank != 0:
            return
        scaler = getattr(getattr(self._trainer, "precision_plugin", None), "scaler", None)  # fp16 AMP's
        features = {path: self.student_recorder.records[path] for path in self.grad_share_features
                    if path in self.student_recorder.records}
        shares = gradient_shares(task_loss, distill_losses, features,
                                 loss_scale=scaler.get_scale() if scaler is not None else 1.0)
        for logger in self.loggers if shares else []:
            logger.log_metrics(grad_share_metrics(shares), step=self.global_step)

    def configure_optimizers(self):
        trainable = nn.ModuleDict({"student": self.student})
        if self.distiller is not None:
            trainable["distiller"] = self.distiller
        optimizer = build_optimizer(trainable, self.optim_wrapper_cfg)
        scheduler = build_lr_scheduler(optimizer, self.max_iters, **self.lr_schedule)
        return dict(optimizer=optimizer, lr_scheduler=dict(scheduler=scheduler, interval="step"))

    # --- evaluation ---------------------------------------------------------------------------
    def _start_eval(self, split):
        cfgs = self.evaluator_cfgs.get(split)
        if cfgs is None:
            raise InvalidValue(f"the config has no {split}_evaluator: add one (e.g. CocoMetric)")
        cfgs = cfgs if isinstance(cfgs, (list, tuple)) else [cfgs]
        self.evaluator = Evaluator([build(c, METRICS) for c in cfgs])
        datamodule = self.trainer.datamodule
        self.evaluator.dataset_meta = datamodule.dataset(split).metainfo
        self._eval_size = len(datamodule.dataset(split))

    def _eval_step(self, batch):
        # Evaluation runs in float32 whatever the training precision: exact metrics, and mmcv's
        # CPU NMS kernel rejects bfloat16.
        with torch.autocast(self.device.type, enabled=False):
            outputs = self.student.val_step(batch)
        self.evaluator.process(data_samples=outputs, data_batch=batch)

    def _finish_eval(self, prefix):
        metrics = self.evaluator.evaluate(self._eval_size)
        self.eval_metrics, self.eval_iteration = metrics, self.global_step
        for name, value in metrics.items():
            if isinstance(value, (int, float)):
                self.log(f"{prefix}/{name}", float(value), sync_dist=False, rank_zero_only=False)

    def on_validation_epoch_start(self):
        self._start_eval("val")

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_validation_epoch_end(self):
        self._finish_eval("val")

    def on_test_epoch_start(self):
        self._start_eval("test")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_test_epoch_end(self):
        self._finish_eval("test")

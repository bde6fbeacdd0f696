"""A results archive: the small files of finished runs (config, summary, test metrics, CSV log; no checkpoint),
kept where a later session or machine can put them back beside new runs, so that evidence needing more hours
than one machine's stay (five seeds of every arm, OADP at convergence) adds up across stays.

A distilled run is only comparable with runs of the same teacher. Each archived run therefore records the
fingerprint of its own weights and of its teacher's; putting a distilled run back requires the teacher now
at its config's checkpoint path to have the same fingerprint (a teacher retrained from the same config and seed
on the same software does), and refuses it otherwise. A run that is another archived run's teacher also keeps
its weights (no optimizer state: a few MB), so a new machine puts the teacher back instead of retraining it for
an hour; teachers archived before they kept weights are left to retrain.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess

import torch
from mmengine.config import Config

from .errors import InvalidValue, MissingFile
from .module import load_state_dict_file

RECORD = "archive.json"
KEPT = ("config.py", "train_summary.json", "metrics.json", "logs/version_*/metrics.csv")
TEACHER_WEIGHTS = "weights.pt"  # a teacher's state dict, put back as its run's last.ckpt


def weights_fingerprint(checkpoint):
    """A short hash of a checkpoint's weights (its ``state_dict``, by name): equal for equal weights, whatever
    else the file holds (optimizer state, loop counters)."""
    state = load_state_dict_file(checkpoint, "checkpoint to fingerprint")
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        digest.update(name.encode())
        if torch.is_tensor(tensor):
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def finished_runs(root):
    """The run folders under ``root`` (relative paths) that finished training (hold ``train_summary.json``)."""
    return sorted(os.path.relpath(os.path.dirname(path), root)
                  for path in glob.glob(os.path.join(root, "**", "train_summary.json"), recursive=True))


def teacher_checkpoint(run_dir):
    """The teacher checkpoint path a run was trained with (from its dumped config), or ``None``."""
    teacher = Config.fromfile(os.path.join(run_dir, "config.py")).get("teacher")
    return teacher.get("checkpoint") if teacher else None


def commit():
    """The code's git commit (``None`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def archive_runs(out, archive):
    """Copy the kept files of every finished run under ``out`` into ``archive`` (same relative paths), each with
    its record: weights and teacher fingerprints, the commit of the code that archived it. Returns the archived
    run paths."""
    runs = finished_runs(out)
    teachers = {os.path.abspath(path) for path in (teacher_checkpoint(os.path.join(out, run)) for run in runs) if path}
    for run in runs:
        source, target = os.path.join(out, run), os.path.join(archive, run)
        if os.path.isdir(target):
            shutil.rmtree(target)
        for pattern in KEPT:
            for path in glob.glob(os.path.join(source, pattern)):
                os.makedirs(os.path.dirname(os.path.join(target, os.path.relpath(path, source))), exist_ok=True)
                shutil.copy2(path, os.path.join(target, os.path.relpath(path, source)))
        own = os.path.join(source, "last.ckpt")
        teacher = teacher_checkpoint(source)
        has_teacher = teacher is not None and os.path.isfile(teacher)
        record = dict(weights=weights_fingerprint(own) if os.path.isfile(own) else None, teacher=teacher,
                      teacher_weights=weights_fingerprint(teacher) if has_teacher else None,
                      archived_at_commit=commit())  # the runs may be older than this code
        with open(os.path.join(target, RECORD), "w") as f:
            json.dump(record, f, indent=2)
        if os.path.abspath(own) in teachers and os.path.isfile(own):
            state = load_state_dict_file(own, "teacher checkpoint to archive")
            torch.save({"state_dict": state}, os.path.join(target, TEACHER_WEIGHTS))
    return runs


def read_record(run_dir):
    path = os.path.join(run_dir, RECORD)
    if not os.path.isfile(path):
        raise MissingFile(f"{run_dir} holds no {RECORD}: it is not an archived run (archive it with "
                          "tools/archive_runs.py save OUT ARCHIVE)")
    with open(path) as f:
        return json.load(f)


def restore_runs(archive, out):
    """Put the archived runs back under ``out`` (those not already there): a teacher of other archived runs with
    its weights as ``last.ckpt`` (one archived without them is left to retrain), then the others, a distilled run
    only when its teacher checkpoint is present with the archived fingerprint. Returns ``(restored, skipped)``:
    run paths, and ``{run path: why}``."""
    runs = sorted(finished_runs(archive), key=lambda run: not os.path.isfile(os.path.join(archive, run, TEACHER_WEIGHTS)))
    records = {run: read_record(os.path.join(archive, run)) for run in runs}
    teachers = {record["teacher_weights"] for record in records.values() if record.get("teacher_weights")}
    present = {}
    restored, skipped = [], {}
    for run, record in records.items():
        if os.path.exists(os.path.join(out, run, "train_summary.json")):
            skipped[run] = "already there"
            continue
        weights = os.path.join(archive, run, TEACHER_WEIGHTS)
        if record.get("weights") in teachers and not os.path.isfile(weights):
            skipped[run] = "a teacher archived without its weights: retrain it (its students need its checkpoint)"
            continue
        if record.get("teacher"):
            teacher = record["teacher"]
            if teacher not in present:
                present[teacher] = weights_fingerprint(teacher) if os.path.isfile(teacher) else None
            if present[teacher] != record["teacher_weights"]:
                skipped[run] = (f"its teacher {teacher} is missing: train it first" if present[teacher] is None else
                                f"its teacher {teacher} has other weights ({present[teacher]}, archived run: "
                                f"{record['teacher_weights']}): not comparable")
                continue
        shutil.copytree(os.path.join(archive, run), os.path.join(out, run), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(TEACHER_WEIGHTS))
        if os.path.isfile(weights):
            shutil.copy2(weights, os.path.join(out, run, "last.ckpt"))
        restored.append(run)
    return restored, skipped


def check_folders(out, archive):
    for path, what in ((out, "runs folder"), (archive, "archive")):
        if not os.path.isdir(path):
            raise MissingFile(f"{what} not found: {path}")
    if os.path.abspath(out) == os.path.abspath(archive):
        raise InvalidValue(f"the runs folder and the archive are the same folder ({out}): name two")

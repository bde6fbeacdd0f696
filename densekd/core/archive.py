"""A results archive: the small files of finished runs (config, summary, test metrics, CSV log; no checkpoint),
kept where a later session or machine can put them back beside new runs, so that evidence needing more hours
than one machine's stay (five seeds of every arm, OADP at convergence) adds up across stays.

A run is only comparable with runs built on the same checkpoints: its teacher (``teacher.checkpoint``) and the
weights it started from (``load_from``: the OV detectors start from the base-class RPN). Each archived run
therefore records the fingerprint of its own weights and of those two; putting a run back requires each of them
now at its config's path to have the same fingerprint (a run retrained from the same config and seed on the same
software has), and refuses it otherwise. A run whose checkpoint another archived run names also keeps its
weights (no optimizer state: a few MB), so a new machine puts it back first instead of retraining it for an
hour; such runs archived before they kept weights are left to retrain. Other files under the runs folder that a
run's config names (class text embeddings) are fingerprinted and kept alike, with files kept on request (what
those were made from).
"""
import filecmp
import glob
import hashlib
import json
import os
import shutil
import subprocess

import torch

from .config import config_leaves, read_config
from .errors import InvalidValue, MissingFile
from .module import load_state_dict_file
from ..data.manifest import read_json_or_none

RECORD = "archive.json"
KEPT = ("config.py", "train_summary.json", "metrics.json", "logs/version_*/metrics.csv")
UPSTREAM_WEIGHTS = "weights.pt"  # the state dict of a run other runs start from or learn from, put back as last.ckpt
FILES = "files.json"  # input files kept beside the runs (not runs themselves): {path under the archive: fingerprint}
UPSTREAM = {"teacher": "its teacher", "load_from": "the checkpoint it started from (load_from)"}


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


def file_fingerprint(path):
    """A short hash of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def run_inputs(run_dir, out):
    """What a run was built on, from its dumped config: ``(checkpoints, files)``. ``checkpoints``:
    ``{"teacher": path, "load_from": path}`` (``None`` where it had none); ``files``: the other files under ``out``
    that the config names (the OV detectors' class text embeddings), as the config names them."""
    config = read_config(os.path.join(run_dir, "config.py"))
    teacher = config.get("teacher")
    checkpoints = {"teacher": teacher.get("checkpoint") if teacher else None, "load_from": config.get("load_from")}
    files = sorted({value for value in config_leaves(config.to_dict()).values()
                    if isinstance(value, str) and value not in checkpoints.values() and os.path.isfile(value)
                    and is_under(value, out)})
    return checkpoints, files


def is_under(path, folder):
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def commit():
    """The code's git commit (``None`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def archive_runs(out, archive, keep_weights=(), keep_files=()):
    """Copy the kept files of every finished run under ``out`` into ``archive`` (same relative paths), each with
    its record: the fingerprints of its weights, of its teacher and ``load_from`` checkpoints and of the other
    files under ``out`` its config names (``inputs``), the commit of the code that archived it. A run that another
    run names as teacher or ``load_from`` (:func:`named_checkpoints`) also keeps its weights, as do the runs in
    ``keep_weights`` (run paths under ``out``: a teacher no run names yet). The input files, and ``keep_files``
    (paths under ``out``: what the inputs were made from, e.g. the demo CLIP), are copied too (listed in
    ``files.json``). Returns the archived run paths."""
    runs = finished_runs(out)
    if unknown := sorted(set(keep_weights) - set(runs)):
        raise InvalidValue(f"--weights {' '.join(unknown)}: no finished run there under {out} (finished: "
                           f"{', '.join(runs[:8])}{', ...' if len(runs) > 8 else ''})")
    if missing := [path for path in keep_files if not os.path.isfile(os.path.join(out, path))]:
        raise InvalidValue(f"--files {' '.join(missing)}: no such file under {out} (give paths under it)")
    # every run folder under out, finished or still training (its config.py is written first)
    upstream, inputs = {}, {}
    for config in glob.glob(os.path.join(out, "**", "config.py"), recursive=True):
        run = os.path.relpath(os.path.dirname(config), out)
        upstream[run], inputs[run] = run_inputs(os.path.dirname(config), out)
    named = named_checkpoints(upstream, archive) | {os.path.abspath(os.path.join(out, run, "last.ckpt"))
                                                    for run in keep_weights}
    fingerprints = {}
    for run in runs:
        source, target = os.path.join(out, run), os.path.join(archive, run)
        own = os.path.join(source, "last.ckpt")
        kept_before = os.path.isfile(os.path.join(target, UPSTREAM_WEIGHTS))
        keep = os.path.abspath(own) in named or kept_before  # once kept, kept
        if already_archived(source, target) and not (keep and os.path.isfile(own) and not kept_before):
            continue  # its record stays as first written (a restored run has no last.ckpt to fingerprint again)
        if os.path.isdir(target):
            shutil.rmtree(target)
        for pattern in KEPT:
            for path in glob.glob(os.path.join(source, pattern)):
                os.makedirs(os.path.dirname(os.path.join(target, os.path.relpath(path, source))), exist_ok=True)
                shutil.copy2(path, os.path.join(target, os.path.relpath(path, source)))
        record = dict(weights=weights_fingerprint(own) if os.path.isfile(own) else None)
        for key, path in upstream[run].items():
            if path and path not in fingerprints:  # a teacher is named by many runs: read it once
                fingerprints[path] = weights_fingerprint(path) if os.path.isfile(path) else None
            record[key], record[f"{key}_weights"] = path, fingerprints.get(path)
        record["inputs"] = {path: file_fingerprint(path) for path in inputs[run]}
        record["archived_at_commit"] = commit()  # the runs may be older than this code
        with open(os.path.join(target, RECORD), "w") as f:
            json.dump(record, f, indent=2)
        if keep and os.path.isfile(own):
            state = load_state_dict_file(own, "checkpoint to archive")
            torch.save({"state_dict": state}, os.path.join(target, UPSTREAM_WEIGHTS))
    named_files = {os.path.relpath(path, out) for paths in inputs.values() for path in paths}
    archive_files(out, archive, named_files | set(keep_files))
    return runs


def archive_files(out, archive, files):
    """Copy ``files`` (paths under ``out``) into ``archive`` where changed or missing, and list them with their
    fingerprints in ``files.json``; files listed before stay listed (and kept)."""
    kept = read_json_or_none(os.path.join(archive, FILES)) or {}
    for path in sorted(files):
        fingerprint = file_fingerprint(os.path.join(out, path))
        if kept.get(path) == fingerprint and os.path.isfile(os.path.join(archive, path)):
            continue
        os.makedirs(os.path.dirname(os.path.join(archive, path)) or archive, exist_ok=True)
        shutil.copy2(os.path.join(out, path), os.path.join(archive, path))
        kept[path] = fingerprint
    if kept:
        with open(os.path.join(archive, FILES), "w") as f:
            json.dump(kept, f, indent=2, sort_keys=True)


def already_archived(source, target):
    """Is the run in ``source`` the one archived in ``target``, tested alike? (The same training summary, times
    included, and the same test metrics or none in both.)"""
    def same(name):
        paths = [os.path.join(folder, name) for folder in (source, target)]
        present = [os.path.isfile(path) for path in paths]
        return present[0] == present[1] and (not present[0] or filecmp.cmp(*paths, shallow=False))
    return os.path.isfile(os.path.join(target, RECORD)) and same("train_summary.json") and same("metrics.json")


def named_checkpoints(upstream, archive):
    """The checkpoints (absolute paths) that some run names as its teacher or ``load_from``: the runs of
    ``upstream`` (``{run: its checkpoints, as run_inputs gives them}``) and the runs already archived."""
    paths = [path for paths in upstream.values() for path in paths.values()]
    paths += [read_record(os.path.dirname(record)).get(key) for record in
              glob.glob(os.path.join(archive, "**", RECORD), recursive=True) for key in UPSTREAM]
    return {os.path.abspath(path) for path in paths if path}


def read_record(run_dir):
    path = os.path.join(run_dir, RECORD)
    if not os.path.isfile(path):
        raise MissingFile(f"{run_dir} holds no {RECORD}: it is not an archived run (archive it with "
                          "tools/archive_runs.py save OUT ARCHIVE)")
    with open(path) as f:
        return json.load(f)


def restore_files(archive, out):
    """Put the archived input files (``files.json``) back under ``out`` where missing. Returns ``(restored,
    differing)``: paths, and ``{path: why}`` for files there with other contents (the runs named them are refused)."""
    restored, differing = [], {}
    for path, fingerprint in (read_json_or_none(os.path.join(archive, FILES)) or {}).items():
        target = os.path.join(out, path)
        if not os.path.isfile(target):
            os.makedirs(os.path.dirname(target) or out, exist_ok=True)
            shutil.copy2(os.path.join(archive, path), target)
            restored.append(path)
        elif (now := file_fingerprint(target)) != fingerprint:
            differing[path] = f"there with other contents ({now}, archived: {fingerprint}): left as it is"
    return restored, differing


def restore_runs(archive, out):
    """Put the archived runs back under ``out`` (those not already there): first the runs others are built on, with
    their weights as ``last.ckpt`` (one archived without them is left to retrain), then the others, each only when
    its teacher and ``load_from`` checkpoints and its input files are present with the archived fingerprints (put
    the files back first: :func:`restore_files`). Returns ``(restored, skipped)``: run paths, and
    ``{run path: why}``."""
    runs = sorted(finished_runs(archive), key=lambda run: not os.path.isfile(os.path.join(archive, run, UPSTREAM_WEIGHTS)))
    records = {run: read_record(os.path.join(archive, run)) for run in runs}
    named = {record.get(f"{key}_weights") for record in records.values() for key in UPSTREAM} - {None}
    present = {}

    def refusal(run, record):
        """Why the run is not put back, or ``None``."""
        if os.path.exists(os.path.join(out, run, "train_summary.json")):
            return "already there"
        if record.get("weights") in named and not os.path.isfile(os.path.join(archive, run, UPSTREAM_WEIGHTS)):
            return "other runs are built on it and it was archived without its weights: retrain it"
        for key, what in UPSTREAM.items():
            path = record.get(key)
            if not path:
                continue
            if path not in present:
                present[path] = weights_fingerprint(path) if os.path.isfile(path) else None
            if present[path] is None:
                return f"{what} {path} is missing: train it first"
            if present[path] != record.get(f"{key}_weights"):
                return (f"{what} {path} has other weights ({present[path]}, archived run: "
                        f"{record.get(f'{key}_weights')}): not comparable")
        for path, fingerprint in record.get("inputs", {}).items():
            if path not in present:
                present[path] = file_fingerprint(path) if os.path.isfile(path) else None
            if present[path] is None:
                return f"its input {path} is missing: make it first"
            if present[path] != fingerprint:
                return f"its input {path} differs ({present[path]}, archived run: {fingerprint}): not comparable"
        return None

    restored, skipped = [], {}
    for run, record in records.items():
        weights = os.path.join(archive, run, UPSTREAM_WEIGHTS)
        why = refusal(run, record)
        if why:
            skipped[run] = why
            continue
        shutil.copytree(os.path.join(archive, run), os.path.join(out, run), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(UPSTREAM_WEIGHTS))
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

"""A sharded, resumable safetensors store of per-image tensor dicts (proposals, CLIP features).

On disk, under ``root``::

    store.json                           metadata, shard size, the image id list, completion
    shard-00000-of-00040.safetensors     images image_ids[0:64], keys f"{image_id}/{field}"
    shard-00001-of-00040.safetensors     ...

Each shard is written whole and atomically (a temporary file, then ``os.replace``) and carries the
store metadata plus its own image id list in its safetensors header, so an interrupted run loses
at most the shards in flight: :func:`write_store` verifies the finished shards, skips them and
computes the rest. Shards are byte-identical whichever process or run wrote them.
:class:`FeatureStore` reads a finished or partial store, opening shards lazily.
"""
import json
import operator
import os
import pickle
import queue
import re
import time
import traceback
import warnings
from collections import OrderedDict

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from tqdm import tqdm
from ..core.errors import InvalidType, InvalidValue, MissingFile, StepFailed, UnknownKey

__all__ = ["FeatureStore", "write_store", "shard_name"]

FORMAT = "densekd.feature_store/1"
STORE_FILE = "store.json"
RESERVED_KEYS = ("image_ids", "densekd_format")  # shard metadata keys the store itself uses
SHARD_PATTERN = re.compile(r"shard-(\d{5})-of-(\d{5})\.safetensors")
TMP_PATTERN = re.compile(r"shard-\d{5}-of-\d{5}\.safetensors\.tmp.*")
ACCELERATORS = {"cpu": "cpu", "cuda": "cuda", "gpu": "cuda"}
DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
               "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


# --- layout -------------------------------------------------------------------------------------
def shard_name(index, num_shards):
    """File name of shard ``index`` of ``num_shards``, e.g. ``shard-00012-of-00040.safetensors``."""
    return f"shard-{index:05d}-of-{num_shards:05d}.safetensors"


def num_shards_for(num_images, shard_size):
    """How many shards ``num_images`` images take at ``shard_size`` images a shard."""
    return -(-num_images // shard_size)


def shard_ids(image_ids, index, shard_size):
    """The image ids of shard ``index``: ``image_ids[index * shard_size:(index + 1) * shard_size]``."""
    return image_ids[index * shard_size:(index + 1) * shard_size]


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _write_json(path, data):
    """Write ``data`` as JSON, atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def read_store_info(root):
    """The parsed ``root/store.json``; FileNotFoundError when ``root`` holds no store."""
    path = os.path.join(root, STORE_FILE)
    if not os.path.isfile(path):
        raise MissingFile(f"no feature store at {root}: {path} is missing. Write one first "
                          "(e.g. tools/generate_proposals.py --out DIR), or check the path.")
    info = _read_json(path)
    if info.get("format") != FORMAT:
        raise InvalidValue(f"{path} is not a {FORMAT} store (format: {info.get('format')!r})")
    return info


def _shard_header(path):
    """``(metadata, {image_id: {field: (dtype, shape)}})`` of a shard; raises if it is unreadable."""
    with safe_open(path, framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        fields = {}
        for key in f.keys():
            image_id, _, field = key.partition("/")
            piece = f.get_slice(key)
            fields.setdefault(int(image_id), {})[field] = (piece.get_dtype(), tuple(piece.get_shape()))
    return metadata, fields


def _field_counts(headers):
    """``{field: {'dtype', 'rows', 'numel'}}`` summed over shard ``headers`` (rows: first-dim total)."""
    counts = {}
    for fields_by_image in headers:
        for fields in fields_by_image.values():
            for field, (dtype, shape) in fields.items():
                entry = counts.setdefault(field, dict(dtype=DTYPE_NAMES.get(dtype, dtype.lower()),
                                                      rows=0, numel=0))
                entry["rows"] += shape[0] if shape else 1
                numel = 1
                for n in shape:
                    numel *= n
                entry["numel"] += numel
    return dict(sorted(counts.items()))


# --- reading ------------------------------------------------------------------------------------
class FeatureStore:
    """Read access to a finished or partial store: ``len``, ``in``, ``image_ids()``, ``get(id)``."""

    def __init__(self, root, max_open_shards=8):
        self.root = root
        self._info = read_store_info(root)
        self._size = self._info["shard_size"]
        self._num_shards = self._info["num_shards"]
        self._planned = self._info["image_ids"]
        present = set(os.listdir(root))
        self._shard_of = {}  # image id -> shard index, for the shards on disk
        for index in range(self._num_shards):
            if shard_name(index, self._num_shards) in present:
                for image_id in shard_ids(self._planned, index, self._size):
                    self._shard_of[image_id] = index
        self._open = OrderedDict()  # shard index -> (safe_open handle, {image id: [keys]})
        self._max_open = max_open_shards

    @property
    def metadata(self):
        """The store's metadata (a copy)."""
        return dict(self._info["metadata"])

    @property
    def complete(self):
        """Whether every planned image is stored."""
        return len(self._shard_of) == len(self._planned)

    def __len__(self):
        return len(self._shard_of)

    def __contains__(self, image_id):
        return image_id in self._shard_of

    def image_ids(self):
        """The stored image ids, in store order."""
        return [i for i in self._planned if i in self._shard_of]

    def _shard(self, index):
        """The (cached, lazily opened) handle of shard ``index`` and its ``{image_id: [keys]}``."""
        if index in self._open:
            self._open.move_to_end(index)
            return self._open[index]
        path = os.path.join(self.root, shard_name(index, self._num_shards))
        try:
            handle = safe_open(path, framework="pt", device="cpu")
        except Exception as err:
            raise OSError(f"shard {path} is unreadable ({err}); rerun the command that wrote the "
                          "store: it recomputes broken shards") from err
        expected = shard_ids(self._planned, index, self._size)
        found = json.loads((handle.metadata() or {}).get("image_ids", "null"))
        if found != expected:
            raise InvalidValue(f"shard {path} holds images {found}, but {STORE_FILE} plans "
                               f"{expected} for it: the store was modified; rewrite it with --overwrite")
        keys = {}
        for key in handle.keys():
            keys.setdefault(int(key.partition("/")[0]), []).append(key)
        self._open[index] = (handle, keys)
        if len(self._open) > self._max_open:
            self._open.popitem(last=False)
        return self._open[index]

    def get(self, image_id):
        """``{field: tensor}`` of one image (tensors as they were written)."""
        if image_id not in self._shard_of:
            if image_id in set(self._planned):
                raise UnknownKey(f"image {image_id} is planned in {self.root} but its shard is not "
                                 "written yet: the store is partial; rerun the writer to finish it")
            raise UnknownKey(f"image {image_id} is not in the store {self.root} "
                             f"({len(self._planned)} planned images)")
        handle, keys = self._shard(self._shard_of[image_id])
        return {key.partition("/")[2]: handle.get_tensor(key) for key in keys[image_id]}

    __getitem__ = get

    def __getstate__(self):
        """Picklable (for worker processes): open shard handles are left behind and reopened lazily."""
        return dict(self.__dict__, _open=OrderedDict())


# --- writing: one shard -------------------------------------------------------------------------
def _check_output(image_id, output, fields):
    """Validate one image's ``{field: tensor}``; return it as contiguous CPU copies."""
    if not isinstance(output, dict) or not output:
        raise InvalidType(f"the worker function must return a non-empty dict of tensors, got "
                          f"{type(output).__name__} {output!r:.80} for image {image_id}")
    checked = {}
    for field, value in output.items():
        if not isinstance(field, str) or not field or "/" in field:
            raise InvalidValue(f"field names must be non-empty strings without '/', got {field!r} "
                               f"for image {image_id}")
        if not torch.is_tensor(value):
            raise InvalidType(f"field '{field}' of image {image_id} is a {type(value).__name__}, "
                              "not a tensor: return torch tensors only")
        checked[field] = value.detach().to("cpu", copy=True).contiguous()
    if fields is not None and set(checked) != set(fields):
        raise InvalidValue(f"image {image_id} has fields {sorted(checked)}, but the store's images "
                           f"have {sorted(fields)}: every image must have the same fields")
    return checked


def _canonical_safetensors(tensors, metadata):
    """Serialise to safetensors with a sorted-key header, so equal content gives equal bytes."""
    raw = safetensors_bytes(tensors, metadata=metadata)
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return [len(text).to_bytes(8, "little"), text, memoryview(raw)[8 + length:]]


def _write_shard(root, plan, index, compute, on_image, fields=None):
    """Compute shard ``index``'s images with ``compute`` and write the shard atomically."""
    ids = shard_ids(plan["image_ids"], index, plan["shard_size"])
    tensors = {}
    for image_id in ids:
        output = _check_output(image_id, compute(image_id), fields)
        fields = fields or sorted(output)
        tensors.update({f"{image_id}/{field}": t for field, t in output.items()})
        on_image()
    metadata = dict(plan["metadata"], image_ids=json.dumps(ids), densekd_format=FORMAT)
    path = os.path.join(root, shard_name(index, plan["num_shards"]))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        for part in _canonical_safetensors(tensors, metadata):
            f.write(part)
    os.replace(tmp, path)


def _device(accelerator, rank):
    """The torch device of worker ``rank``."""
    return torch.device("cuda", rank) if accelerator == "cuda" else torch.device("cpu")


def _worker_process(rank, build_worker, accelerator, threads, root, plan, fields, tasks, results):
    """A spawned worker: build the model once, then compute and write the shards it is handed."""
    try:
        if accelerator == "cpu":
            torch.set_num_threads(threads)
        else:
            torch.cuda.set_device(rank)
        compute = build_worker(_device(accelerator, rank))
        for index in iter(tasks.get, None):
            _write_shard(root, plan, index, compute, lambda: results.put(("image", rank)), fields)
            results.put(("shard", rank, index))
    except BaseException:  # noqa: BLE001 (reported to the main process, which raises)
        results.put(("error", rank, traceback.format_exc()))
        return
    results.put(("done", rank))


def _run_in_process(root, plan, todo, build_worker, accelerator, fields, bar):
    """devices=1: compute the shards ``todo`` here, in order."""
    compute = build_worker(_device(accelerator, 0))
    for index in todo:
        _write_shard(root, plan, index, compute, lambda: bar.update(1), fields)


def _run_spawned(root, plan, todo, build_worker, accelerator, devices, fields, bar):
    """devices>1: spawn one worker per device; they pull shard indices from a queue."""
    try:
        pickle.dumps(build_worker)  # what spawning does; fail here with a clear message
    except Exception as err:
        raise InvalidType(f"with devices > 1, build_worker must be picklable (a top-level function of an "
                          f"importable module, or a functools.partial of one): {err}") from err
    ctx = torch.multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for index in todo:
        tasks.put(index)
    for _ in range(devices):
        tasks.put(None)
    threads = max(1, torch.get_num_threads() // devices)
    workers = [ctx.Process(target=_worker_process, name=f"feature-store-worker-{rank}",
                           args=(rank, build_worker, accelerator, threads, root, plan, fields,
                                 tasks, results))
               for rank in range(devices)]
    for worker in workers:
        worker.start()
    try:
        running = set(range(devices))
        while running:
            try:
                message = results.get(timeout=2.0)
            except queue.Empty:
                for rank in list(running):
                    if not workers[rank].is_alive() and results.empty():
                        raise StepFailed(f"feature store worker {rank} died without a message "
                                         f"(exit code {workers[rank].exitcode}; out of memory?). "
                                         "Finished shards are kept: rerun to continue.")
                continue
            kind, rank = message[0], message[1]
            if kind == "image":
                bar.update(1)
            elif kind == "error":
                last_line = message[2].strip().splitlines()[-1]
                raise StepFailed(f"feature store worker {rank} failed: {last_line}. Finished shards "
                                 f"are kept: rerun to continue. Its traceback:\n{message[2]}")
            elif kind == "done":
                running.discard(rank)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join()


# --- writing: the store -------------------------------------------------------------------------
def _as_id(value):
    """One image id as an int; TypeError for anything else (bools included)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise InvalidType(f"image ids must be integers, got {value!r} ({type(value).__name__})")
    return operator.index(value)


def _check_ids(image_ids):
    """Image ids as a list of ints; errors for an empty list, non-integers or repeats."""
    ids = [_as_id(i) for i in image_ids]
    if not ids:
        raise InvalidValue("no image ids to write: the list is empty (is the dataset empty?)")
    if len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for i in ids:
            if i in seen:
                repeated.append(i)
            seen.add(i)
        raise InvalidValue(f"image ids repeat: {repeated[:5]}; each image must appear once")
    return ids


def _check_metadata(metadata):
    """Metadata as a ``{str: str}`` dict (what safetensors headers hold) without reserved keys."""
    if not isinstance(metadata, dict):
        raise InvalidType(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidType(f"metadata must map str to str, got {key!r}: {value!r} "
                              f"({type(value).__name__}); convert values with str() or json.dumps()")
        if key in RESERVED_KEYS:
            raise InvalidValue(f"metadata key {key!r} is reserved by the store; rename it")
    return dict(sorted(metadata.items()))


def _check_run_settings(devices, accelerator, shard_size):
    """Validate ``devices``/``shard_size``; return the accelerator as 'cpu' or 'cuda'."""
    for name, value in (("devices", devices), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidValue(f"{name} must be a positive integer, got {value!r}")
    if accelerator not in ACCELERATORS:
        raise InvalidValue(f"accelerator must be one of {sorted(ACCELERATORS)}, got {accelerator!r}")
    accelerator = ACCELERATORS[accelerator]
    if accelerator == "cuda":
        available = torch.cuda.device_count()
        if devices > available:
            raise InvalidValue(f"{devices} CUDA device(s) asked for, {available} available: "
                               "lower --devices or use --accelerator cpu")
    return accelerator


def _store_files(root):
    """Names of the store's own files in ``root`` (store.json, shards, shard temporaries)."""
    return [n for n in os.listdir(root)
            if n == STORE_FILE or SHARD_PATTERN.fullmatch(n) or TMP_PATTERN.fullmatch(n)]


def _redo_hint(root):
    return (f"Pass overwrite=True (--overwrite) to recompute it, or write to another directory "
            f"(--out) than {root}.")


def _check_plan(root, plan):
    """Compare ``plan`` with an existing store.json: same metadata, shard size and image list."""
    path = os.path.join(root, STORE_FILE)
    if not os.path.isfile(path):
        return
    old = _read_json(path)
    if old.get("format") != FORMAT:
        raise InvalidValue(f"{path} is not a {FORMAT} store. {_redo_hint(root)}")
    if old["metadata"] != plan["metadata"]:
        keys = sorted(set(old["metadata"]) | set(plan["metadata"]))
        diff = "; ".join(f"{k}: {old['metadata'].get(k)!r} -> {plan['metadata'].get(k)!r}"
                         for k in keys if old["metadata"].get(k) != plan["metadata"].get(k))
        raise InvalidValue(f"the store at {root} was written with other metadata ({diff}). {_redo_hint(root)}")
    if old["shard_size"] != plan["shard_size"]:
        raise InvalidValue(f"the store at {root} was written with shard_size {old['shard_size']}, "
                           f"now {plan['shard_size']}: keep the old size to resume. {_redo_hint(root)}")
    if old["image_ids"] != plan["image_ids"]:
        first = next((k for k, (a, b) in enumerate(zip(old["image_ids"], plan["image_ids"])) if a != b),
                     min(len(old["image_ids"]), len(plan["image_ids"])))
        raise InvalidValue(f"the store at {root} was written for another image list "
                           f"({len(old['image_ids'])} images, now {len(plan['image_ids'])}; first "
                           f"difference at position {first}). {_redo_hint(root)}")


def _verify_shards(root, plan):
    """Check the finished shards; return ``({index: header fields}, [indices to compute])``.

    Unreadable or inconsistent shards are deleted and recomputed; shards of another store
    (other metadata, image ids or shard count) raise.
    """
    n = plan["num_shards"]
    for name in os.listdir(root):
        match = SHARD_PATTERN.fullmatch(name)
        if match and int(match.group(2)) != n:
            raise InvalidValue(f"{os.path.join(root, name)} belongs to a store of {int(match.group(2))} "
                               f"shards, this one has {n}: the image list or shard size changed. "
                               + _redo_hint(root))
    done, todo = {}, []
    for index in range(n):
        path = os.path.join(root, shard_name(index, n))
        if not os.path.exists(path):
            todo.append(index)
            continue
        try:
            metadata, fields = _shard_header(path)
        except Exception as err:  # truncated, garbage, unreadable
            warnings.warn(f"{path} is unreadable ({err}); recomputing it")
            os.remove(path)
            todo.append(index)
            continue
        _check_shard_metadata(path, metadata, plan, index, root)
        field_sets = {tuple(sorted(f)) for f in fields.values()}
        expected = shard_ids(plan["image_ids"], index, plan["shard_size"])
        if sorted(fields) != sorted(expected) or len(field_sets) != 1:
            warnings.warn(f"{path} does not hold every image with the same fields; recomputing it")
            os.remove(path)
            todo.append(index)
            continue
        done[index] = fields
    field_sets = {_shard_fields(f) for f in done.values()}
    if len(field_sets) > 1:
        raise InvalidValue(f"the finished shards in {root} hold different field sets {sorted(field_sets)}: "
                           f"the worker changed between runs. {_redo_hint(root)}")
    return done, todo


def _shard_fields(fields_by_image):
    """The (sorted) field names of a verified shard's images."""
    return tuple(sorted(next(iter(fields_by_image.values()))))


def _check_shard_metadata(path, metadata, plan, index, root):
    """A finished shard must carry the store's metadata and the image ids planned for it."""
    own = {k: v for k, v in metadata.items() if k not in RESERVED_KEYS}
    if own != plan["metadata"]:
        raise InvalidValue(f"{path} was written with other metadata ({own}, now {plan['metadata']}). "
                           + _redo_hint(root))
    expected = shard_ids(plan["image_ids"], index, plan["shard_size"])
    if json.loads(metadata.get("image_ids", "null")) != expected:
        raise InvalidValue(f"{path} holds other images than planned for shard {index}: the image list "
                           f"or shard size changed. {_redo_hint(root)}")


def _shard_bytes(root, plan):
    """Total size in bytes of the store's shard files."""
    return sum(os.path.getsize(os.path.join(root, shard_name(k, plan["num_shards"])))
               for k in range(plan["num_shards"]))


def write_store(root, image_ids, build_worker, *, metadata, devices=1, accelerator="cpu",
                shard_size=64, overwrite=False, desc=""):
    """Compute ``build_worker(device)(image_id) -> {field: tensor}`` for every image into a store.

    Resumes an interrupted store (finished shards are verified and skipped). With ``devices`` > 1,
    one spawned process per device builds its own worker (``build_worker`` must be picklable: a
    top-level function or a ``functools.partial`` of one). Returns a summary dict: images,
    new_images, shards, new_shards, bytes (the shard files' total size), seconds, fields
    ({field: {dtype, rows (first-dim total, e.g. objects), numel}}).
    """
    start = time.perf_counter()
    ids = _check_ids(image_ids)
    accelerator = _check_run_settings(devices, accelerator, shard_size)
    plan = dict(format=FORMAT, metadata=_check_metadata(metadata), shard_size=shard_size,
                num_images=len(ids), num_shards=num_shards_for(len(ids), shard_size),
                image_ids=ids, complete=False)
    os.makedirs(root, exist_ok=True)
    if overwrite:
        for name in _store_files(root):
            os.remove(os.path.join(root, name))
    _check_plan(root, plan)
    for name in os.listdir(root):  # temporaries of an interrupted run
        if TMP_PATTERN.fullmatch(name):
            os.remove(os.path.join(root, name))
    done, todo = _verify_shards(root, plan)
    _write_json(os.path.join(root, STORE_FILE), plan)

    fields = list(_shard_fields(next(iter(done.values())))) if done else None  # what new images must have
    new_images = sum(len(shard_ids(ids, k, shard_size)) for k in todo)
    new_shards = len(todo)
    workers = min(devices, len(todo))
    with tqdm(total=len(ids), initial=len(ids) - new_images, desc=desc or "images", unit="img",
              dynamic_ncols=True, mininterval=0.5) as bar:
        if workers == 1:
            _run_in_process(root, plan, todo, build_worker, accelerator, fields, bar)
        elif workers > 1:
            _run_spawned(root, plan, todo, build_worker, accelerator, workers, fields, bar)

    done, todo = _verify_shards(root, plan)
    if todo:
        raise StepFailed(f"shards {todo} of {root} are missing after writing; rerun to compute them")
    counts = _field_counts(done.values())
    _write_json(os.path.join(root, STORE_FILE), dict(plan, complete=True, fields=counts))
    return dict(root=root, images=len(ids), new_images=new_images, shards=plan["num_shards"],
                new_shards=new_shards, bytes=_shard_bytes(root, plan),
                seconds=round(time.perf_counter() - start, 2), fields=counts)

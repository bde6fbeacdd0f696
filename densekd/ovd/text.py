"""Class-name vocabularies and their CLIP text embeddings (ViLD prompt-template ensemble).

A class embedding is the mean over prompt templates of the L2-normalised text embeddings of
``template.format(name)``, L2-normalised again. (OADP's reference code stops at the mean, so its
class embeddings have norms a little below one; cosine similarities need the final step.)
"""
import json
import os

import torch
import torch.nn.functional as F

from densekd.core.errors import MissingFile
from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL, SHAPES_BASE, SHAPES_NOVEL

__all__ = [
    "VILD_TEMPLATES",
    "VOCABULARIES",
    "prompt_name",
    "vocabulary_names",
    "config_names",
    "text_embeddings",
    "save_text_embeddings",
    "load_text_embeddings",
]


def _vild_templates():
    """The 74 prompts of ViLD's ensemble (as used by DetPro and OADP), in their usual order."""
    sizes = ("", "small ", "medium ", "large ")
    templates = ["This is a {}", "There is a {}"]
    templates += [f"a photo of a {size}{{}} in the scene" for size in sizes]
    templates += [f"a photo of a {size}{{}}" for size in sizes]
    templates += [f"This is a photo of a {size}{{}}" for size in sizes]
    templates += [f"{lead} {det} {{}} in the scene" for lead in ("There is", "This is") for det in ("a", "the", "one")]
    templates += [f"This is one {size}{{}} in the scene" for size in sizes[1:]]
    templates += [f"There is a {size}{{}} in the scene" for size in sizes[1:]]
    templates += [
        f"{lead} {det} {size}{{}} in the {place}"
        for lead in ("There is", "This is")
        for place in ("photo", "picture")
        for size in sizes
        for det in ("a", "the", "one")
    ]
    return tuple(templates)


VILD_TEMPLATES = _vild_templates()

VOCABULARIES = ("ov_coco", "lvis", "shapes")


def prompt_name(name):
    """A class name as it goes into a prompt: LVIS-style underscores become spaces."""
    return " ".join(name.replace("_", " ").split())


def vocabulary_names(vocabulary):
    """Class names of a named vocabulary: 'ov_coco' (65), 'lvis' (1203) or 'shapes' (10); base first."""
    if vocabulary == "ov_coco":
        return list(OV_COCO_BASE + OV_COCO_NOVEL)
    if vocabulary == "shapes":
        return list(SHAPES_BASE + SHAPES_NOVEL)
    if vocabulary == "lvis":
        from mmdet.datasets import LVISV1Dataset

        return list(LVISV1Dataset.METAINFO["classes"])
    raise ValueError(f"unknown vocabulary {vocabulary!r}: pick one of {', '.join(VOCABULARIES)}, "
                     "or take the class names from a config")


def config_names(config):
    """Class names of a densekd config (a path or a loaded Config): its ``classes`` or the test set's."""
    from densekd.core.config import config_classes, load_config

    cfg = load_config(config) if isinstance(config, str) else config
    names = config_classes(cfg)
    if not names:
        where = config if isinstance(config, str) else "the given config"
        raise ValueError(f"{where} names no classes: set `classes = (...)` or "
                         "test_dataloader.dataset.metainfo.classes in it")
    return names


@torch.no_grad()
def text_embeddings(teacher, names, templates=VILD_TEMPLATES, batch_size=1024, progress=False):
    """Prompt-ensembled class embeddings ``(C, D)`` float32, unit norm, for ``names`` (C,).

    ``teacher.encode_text(list[str])`` gives ``(N, D)`` embeddings; each template's embeddings
    are normalised, averaged over templates and normalised again. Texts go to the teacher in
    chunks of ``batch_size``; ``progress`` shows a progress bar over the chunks.
    """
    names, templates = list(names), list(templates)
    if not names:
        raise ValueError("text_embeddings needs at least one class name, got an empty list")
    if not templates:
        raise ValueError("text_embeddings needs at least one prompt template, got an empty list")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ValueError(f"every prompt template needs exactly one '{{}}' for the class name, got {bad[:3]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    texts = [template.format(prompt_name(name)) for template in templates for name in names]
    classes = torch.arange(len(names)).repeat(len(templates))  # class index of each text
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"text embeddings ({len(names)} classes x {len(templates)} templates)",
                      unit="batch")
    total = None
    for start in starts:
        chunk = F.normalize(teacher.encode_text(texts[start:start + batch_size]).float(), dim=-1)
        if total is None:
            total = chunk.new_zeros(len(names), chunk.shape[1])
        total.index_add_(0, classes[start:start + batch_size].to(chunk.device), chunk)
    return F.normalize(total / len(templates), dim=-1)


def save_text_embeddings(path, embeddings, names, **metadata):
    """Write ``embeddings`` ``(C, D)`` and ``names`` (C,) to a safetensors file, atomically.

    ``names`` go into the file's metadata as a JSON list; other ``metadata`` values as JSON too.
    """
    from safetensors.torch import save_file

    if embeddings.ndim != 2 or embeddings.shape[0] != len(names):
        raise ValueError(f"embeddings must be (C, D) with C = len(names) = {len(names)}, "
                         f"got shape {tuple(embeddings.shape)}")
    header = {"names": json.dumps(list(names))}
    header.update({key: json.dumps(value) for key, value in metadata.items()})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    save_file({"embeddings": embeddings.detach().float().cpu().contiguous()}, partial, metadata=header)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # safetensors creates the file owner-only
    os.replace(partial, path)


def load_text_embeddings(path):
    """``(embeddings (C, D) float32, names list[str], metadata dict)`` from :func:`save_text_embeddings`."""
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise MissingFile(f"text embeddings not found: {path} — make them with tools/build_text_embeddings.py")
    with safe_open(path, framework="pt") as f:
        header = f.metadata() or {}
        if "embeddings" not in f.keys() or "names" not in header:
            raise ValueError(f"{path} is not a densekd text-embedding file (needs an 'embeddings' tensor "
                             "and 'names' metadata); make one with tools/build_text_embeddings.py")
        embeddings = f.get_tensor("embeddings")
    metadata = {key: json.loads(value) for key, value in header.items()}
    return embeddings, metadata.pop("names"), metadata

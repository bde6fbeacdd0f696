"""OADP training-step overhead: what does the distillation pyramid cost on top of the
open-vocabulary baseline's training step?

Times, interleaved in one run on the same pre-loaded batches: (a) the baseline training step
(configs/demo/ovd_baseline_shapes.py: the detector with the text-embedding classifier, no
distillation) and (b) the OADP training step (configs/demo/oadp_shapes.py: the same detector plus
the object / block / global branches and the DistillationPyramid, teacher = CLIPTargetTeacher
reading the CLIP feature cache). A step is ``module.training_step`` (data preprocessor, teacher
attach, student loss, distiller, parse_losses) + backward + SGD step. Prints OADP / baseline
(goal: <= 1.15) and a breakdown of the OADP extra.

Data loading is excluded (batches are loaded before timing; each arm gets its own deep copy of
the batch, made outside the timed region). Reading the feature cache is *not* excluded: the
teacher attach reads each image's targets from the safetensors store inside the OADP step, as in
training. Both detectors start from the same weights and each step is seeded the same in both
arms, so both sample the same RoIs; the arm that runs first alternates every iteration.

Outside a Trainer ``global_step`` is 0, where OADP's warm-ups scale the distillation losses by
0: the arithmetic (forward, backward) is the same as after the warm-up, only the gradients are 0.

Settings (``--setting``):

- ``demo`` (default): the shapes demo configs above (an R18 width-32 detector on 160 px images).
  Needs work_dirs/demo/clip_features/train and work_dirs/demo/clip/shapes_text.safetensors (see
  configs/demo/oadp_shapes.py).
- ``coco``: the real OV-COCO scale, configs/oadp_coco.py (R50-FPN, 256-channel FPN, full-size
  object / block / global branches, 512-d CLIP width, multi-scale training up to 1333x800, 2 images
  per batch) against the same config without distillation (object / block / global heads None, no
  teacher / distiller). Needs nothing on disk: a temporary directory gets a tiny COCO-2017-shaped
  tree (640x480 noise JPEGs with boxes of COCO classes, prepared by tools/prepare_ov_coco.py), random
  unit text embeddings for the 65 OV-COCO names, and a CLIP feature cache of random unit targets in
  the cache's format (27 blocks = a 640x480 image's block boxes, 100 objects). The backbone starts
  from random weights (no ImageNet download); timing does not depend on the weights.

    python bench/oadp_step.py [--iters 20] [--warmup 3] [--threads 2] [--batch-size 4] [--device cpu|cuda]
    python bench/oadp_step.py --setting coco [--iters 3] [--warmup 1] [--threads 2] [--batch-size 2]

On CUDA (``--device cuda``) every timed boundary synchronises the device first, so each phase's time
includes its kernels.
"""
import argparse
import copy
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(REPO)

from densekd import DistillModule  # noqa: E402
from densekd.core.config import load_config  # noqa: E402
from densekd.core.data import DataModule  # noqa: E402

warnings.filterwarnings("ignore", message=".*self.log.*")  # steps run outside a Trainer here

BASELINE = "configs/demo/ovd_baseline_shapes.py"
OADP = "configs/demo/oadp_shapes.py"
OADP_COCO = "configs/oadp_coco.py"
COCO_IMAGE = (640, 480)  # width, height: a typical COCO image
CLIP_DIM = 512  # CLIP ViT-B/32's embedding width
NUM_OBJECTS = 100  # clip_features_coco.py's max_proposals
# Per-setting defaults for --iters / --warmup / --batch-size
DEFAULTS = {"demo": dict(iters=20, warmup=3, batch_size=4), "coco": dict(iters=3, warmup=1, batch_size=2)}
GOAL = 1.15
BRANCHES = ("object branch fwd", "block branch fwd", "global branch fwd")


def clock(device):
    """``() -> seconds``: ``time.perf_counter`` after the device's queued work is done (CUDA), for timing."""
    def now():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()
    return now


class Timer:
    """Accumulates wall time per name within one step (``reset`` between steps)."""

    def __init__(self, now=time.perf_counter):
        self.current = defaultdict(float)
        self.now = now

    def reset(self):
        self.current = defaultdict(float)

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = self.now()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[name] += self.now() - start
        return timed


def instrument(module, timer):
    """Time the OADP extras in place: cache read, teacher attach, branch heads forward, distiller."""
    teacher = module.teacher
    teacher.source = timer.wrap("cache read", teacher.source)  # CachedTeacherFeatures.__call__
    teacher.forward = timer.wrap("teacher attach", teacher.forward)  # cache read + box transform
    roi_head = module.student.roi_head
    region_head = roi_head.region_head  # RoI extraction + head, for the object and block branches
    by_head = {id(roi_head.object_head): timer.wrap("object branch fwd", region_head),
               id(roi_head.block_head): timer.wrap("block branch fwd", region_head)}
    roi_head.region_head = lambda head, x, boxes: by_head[id(head)](head, x, boxes)
    if roi_head.global_head is not None:
        roi_head.global_head.forward = timer.wrap("global branch fwd", roi_head.global_head.forward)
    module.distiller.forward = timer.wrap("distiller losses", module.distiller.forward)


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


# --- the coco setting's synthetic inputs -------------------------------------------------------
def write_coco_tree(root, num_train, size=COCO_IMAGE, seed=0):
    """A COCO-2017-shaped tree under ``root``: ``num_train`` noise JPEGs (train2017) and one val2017
    image, each with 3-6 boxes of base classes and one of a novel class (dropped from train by
    prepare_ov_coco), every box at least 32 px a side; ``annotations/instances_{split}.json``."""
    from PIL import Image

    from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL

    names = list(OV_COCO_BASE) + list(OV_COCO_NOVEL)
    categories = [{"id": i + 1, "name": n, "supercategory": "thing"} for i, n in enumerate(names)]
    rng = np.random.default_rng(seed)
    width, height = size
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    ann_id = 1
    for split, count, first_id in (("train2017", num_train, 1), ("val2017", 1, 100001)):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        images, annotations = [], []
        for image_id in range(first_id, first_id + count):
            name = f"{image_id:012d}.jpg"
            Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
                os.path.join(root, split, name), quality=90)
            images.append({"id": image_id, "file_name": name, "width": width, "height": height})
            base = rng.integers(1, len(OV_COCO_BASE) + 1, int(rng.integers(3, 7)))
            novel = rng.integers(len(OV_COCO_BASE) + 1, len(names) + 1, 1)
            for category in (*base, *novel):
                w, h = (int(v) for v in rng.integers(32, (width // 2, height // 2)))
                x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
                annotations.append({"id": ann_id, "image_id": image_id, "category_id": int(category),
                                    "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
                ann_id += 1
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


def load_tool(name):
    """``tools/<name>.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unit(*shape, generator):
    """Random unit vectors along the last dim."""
    return torch.nn.functional.normalize(torch.randn(*shape, generator=generator), dim=-1)


def random_targets(image_id, size=COCO_IMAGE):
    """One image's CLIP targets as ``tools/extract_clip_features.py`` stores them (``extract_image``):
    unit embeddings in float16, boxes (original-image pixels) and objectness in float32."""
    from densekd.ovd.clip_teacher import block_boxes

    g = torch.Generator().manual_seed(int(image_id))
    width, height = size
    blocks = block_boxes(height, width)  # the teacher's own block layout: 27 for 640x480
    xy = torch.rand(NUM_OBJECTS, 2, generator=g) * torch.tensor([width - 16.0, height - 16.0])
    wh = 16 + torch.rand(NUM_OBJECTS, 2, generator=g) * (torch.tensor([width, height]) - 16 - xy)
    return {
        "global": unit(CLIP_DIM, generator=g).half(),
        "blocks": unit(len(blocks), CLIP_DIM, generator=g).half(),
        "block_boxes": blocks,
        "objects": unit(NUM_OBJECTS, CLIP_DIM, generator=g).half(),
        "object_boxes": torch.cat([xy, xy + wh], dim=1),
        "objectness": torch.rand(NUM_OBJECTS, generator=g).sort(descending=True).values,
    }


def random_targets_worker(device):
    """``write_store``'s ``build_worker``."""
    return random_targets


def coco_setting(tmp, args):
    """Write the synthetic OV-COCO inputs under ``tmp``; return (baseline cfg, OADP cfg, training scales)."""
    from densekd.ovd.feature_store import write_store
    from densekd.ovd.splits import OV_COCO_BASE, OV_COCO_NOVEL
    from densekd.ovd.teacher_features import split_images
    from densekd.ovd.text import save_text_embeddings

    root = os.path.join(tmp, "coco")
    write_coco_tree(root, num_train=max(2, args.batch_size * (args.warmup + args.iters)))
    load_tool("prepare_ov_coco").main(["--dataset", "coco", "--data-root", root])
    train_ann = os.path.join(root, "annotations", "instances_train2017.48.json")
    val_ann = os.path.join(root, "annotations", "instances_val2017.65.json")

    names = list(OV_COCO_BASE) + list(OV_COCO_NOVEL)
    text = os.path.join(tmp, "ov_coco_text.safetensors")
    save_text_embeddings(text, unit(len(names), CLIP_DIM, generator=torch.Generator().manual_seed(0)), names,
                         source="bench/oadp_step.py: random unit vectors")
    cache = os.path.join(tmp, "clip_features", "train")
    image_ids = sorted(split_images(train_ann, os.path.join(root, "train2017")))
    write_store(cache, image_ids, random_targets_worker, desc="random CLIP targets",
                metadata=dict(kind="oadp_clip_features", source="bench/oadp_step.py: random unit targets",
                              max_proposals=str(NUM_OBJECTS), dtype="float16"))

    options = {
        "train_dataloader.dataset.data_root": root, "val_dataloader.dataset.data_root": root,
        "test_dataloader.dataset.data_root": root,
        "val_evaluator.ann_file": val_ann, "test_evaluator.ann_file": val_ann,
        "train_dataloader.batch_size": args.batch_size, "train_dataloader.num_workers": 0,
        "val_dataloader.num_workers": 0, "test_dataloader.num_workers": 0,
        "model.roi_head.vocabulary.text_embeddings": text, "teacher.model.cache": cache,
        "model.backbone.init_cfg": None,  # no ImageNet weights offline; timing does not care
    }
    if args.max_size:  # smoke tests only: one small training scale instead of OADP's 1333 x 640..800
        options["train_dataloader.dataset.pipeline.2.scales"] = [tuple(args.max_size)]
    oadp_cfg = load_config(OADP_COCO, options)
    base_cfg = load_config(OADP_COCO, options)  # one source of truth: the same config, no distillation
    base_cfg.merge_from_dict({"model.roi_head.object_head": None, "model.roi_head.block_head": None,
                              "model.roi_head.global_head": None})
    for key in ("teacher", "distiller", "teacher_forward"):
        base_cfg.pop(key, None)
    return base_cfg, oadp_cfg, oadp_cfg.train_dataloader.dataset.pipeline[2].scales


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(DEFAULTS), default="demo",
                        help="demo: the shapes demo configs; coco: configs/oadp_coco.py on synthetic inputs")
    parser.add_argument("--iters", type=int, help="timed iterations (default: demo 20, coco 3)")
    parser.add_argument("--warmup", type=int, help="untimed first iterations (default: demo 3, coco 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch-size", type=int, help="images per step (default: demo 4, coco 2)")
    parser.add_argument("--max-size", type=int, nargs=2, metavar=("LONG", "SHORT"),
                        help=argparse.SUPPRESS)  # coco smoke tests: train at one small scale, e.g. 320 192
    args = parser.parse_args()
    for key, value in DEFAULTS[args.setting].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.max_size and args.setting != "coco":
        parser.error("--max-size is for --setting coco")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="oadp_step_") as tmp:
        return run(args, tmp)


def run(args, tmp):
    seed_all(0)
    if args.setting == "coco":
        base_cfg, oadp_cfg, scales = coco_setting(tmp, args)
        setting = f"OV-COCO scale ({OADP_COCO}, training scales {list(map(tuple, scales))})"
    else:
        # (persistent_workers is no config key: densekd's DataModule sets it from num_workers)
        overrides = {"train_dataloader.batch_size": args.batch_size, "train_dataloader.num_workers": 0}
        base_cfg, oadp_cfg = load_config(BASELINE, overrides), load_config(OADP, overrides)
        setting = f"shapes demo ({OADP})"

    seed_all(0)
    device = torch.device(args.device)
    arms = {"baseline": DistillModule.from_config(base_cfg, init_weights=True).to(device).train(),
            "oadp": DistillModule.from_config(oadp_cfg, init_weights=True).to(device).train()}
    assert arms["baseline"].teacher is None and arms["oadp"].teacher is not None
    missing, unexpected = arms["oadp"].student.load_state_dict(arms["baseline"].student.state_dict(), strict=False)
    assert not unexpected and all(k.split(".")[1] in ("object_head", "block_head", "global_head") for k in missing)
    optimizers = {name: m.configure_optimizers()["optimizer"] for name, m in arms.items()}
    now = clock(device)
    timer = Timer(now)
    instrument(arms["oadp"], timer)

    datamodule = DataModule(oadp_cfg, splits=("train",))
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader) for _ in range(args.warmup + args.iters)]  # data loading: not timed

    times = {name: defaultdict(list) for name in arms}
    for i, batch in enumerate(batches):
        order = list(arms) if i % 2 == 0 else list(reversed(arms))  # alternate who goes first
        for name in order:
            module, optimizer = arms[name], optimizers[name]
            data = copy.deepcopy(batch)  # the teacher writes clip_targets onto the data samples
            seed_all(1000 + i)  # same RoI sampling in both arms
            timer.reset()
            optimizer.zero_grad(set_to_none=True)
            t0 = now()
            loss = module.training_step(data, i)
            t1 = now()
            loss.backward()
            t2 = now()
            optimizer.step()
            t3 = now()
            if i >= args.warmup:
                rec = times[name]
                rec["step"].append(t3 - t0)
                rec["forward + losses"].append(t1 - t0)
                rec["backward"].append(t2 - t1)
                rec["optimizer step"].append(t3 - t2)
                for key, value in timer.current.items():
                    rec[key].append(value)

    med = {name: {k: statistics.median(v) * 1000 for k, v in rec.items()} for name, rec in times.items()}
    ratio = med["oadp"]["step"] / med["baseline"]["step"]
    b, o = med["baseline"], med["oadp"]
    print(f"\n{setting}")
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.iters} timed iterations after {args.warmup} warm-up (medians, ms)\n")
    print("| phase | baseline | OADP | OADP - baseline |")
    print("|---|---|---|---|")
    for key in ("forward + losses", "backward", "optimizer step", "step"):
        print(f"| {key} | {b[key]:.1f} | {o[key]:.1f} | {o[key] - b[key]:+.1f} |")
    print("\nOADP extras inside its forward (medians, ms):\n")
    print("| part | ms | share of OADP step |")
    print("|---|---|---|")
    teacher = o["teacher attach"]
    extras = [("teacher attach (cache read + box transform)", teacher),
              ("  of which cache read (FeatureStore.get + float)", o["cache read"]),
              ("  of which box transform (to_input_frame)", teacher - o["cache read"]),
              ("branch heads forward", sum(o.get(k, 0.0) for k in BRANCHES)),
              *((f"  of which {k[:-4]} (RoI extract + head)" if "global" not in k else f"  of which {k[:-4]}",
                 o[k]) for k in BRANCHES if k in o),
              ("distiller losses (DistillationPyramid)", o["distiller losses"])]
    for label, value in extras:
        print(f"| {label} | {value:.1f} | {value / o['step']:.1%} |")
    print(f"\nOADP / baseline = {ratio:.3f}  (goal <= {GOAL})")
    return ratio


if __name__ == "__main__":
    ratio = main()
    sys.exit(0 if ratio <= GOAL else 1)

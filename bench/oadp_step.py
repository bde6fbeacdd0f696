"""OADP training-step overhead on the shapes demo: what does the distillation pyramid cost on top
of the open-vocabulary baseline's training step?

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

Needs work_dirs/demo/clip_features/train and work_dirs/demo/clip/shapes_text.safetensors (see
configs/demo/oadp_shapes.py).

    python bench/oadp_step.py [--iters 20] [--warmup 3] [--threads 2] [--batch-size 4]
"""
import argparse
import copy
import os
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(REPO)

from densekd import DistillModule  # noqa: E402
from densekd.core.config import load_config  # noqa: E402
from densekd.core.data import DetDataModule  # noqa: E402

warnings.filterwarnings("ignore", message=".*self.log.*")  # steps run outside a Trainer here

BASELINE = "configs/demo/ovd_baseline_shapes.py"
OADP = "configs/demo/oadp_shapes.py"
GOAL = 1.15
BRANCHES = ("object branch fwd", "block branch fwd", "global branch fwd")


class Timer:
    """Accumulates wall time per name within one step (``reset`` between steps)."""

    def __init__(self):
        self.current = defaultdict(float)

    def reset(self):
        self.current = defaultdict(float)

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[name] += time.perf_counter() - start
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"train_dataloader.batch_size": args.batch_size, "train_dataloader.num_workers": 0,
                 "train_dataloader.persistent_workers": False}

    seed_all(0)
    base_cfg, oadp_cfg = load_config(BASELINE, overrides), load_config(OADP, overrides)
    arms = {"baseline": DistillModule.from_config(base_cfg, init_weights=True).train(),
            "oadp": DistillModule.from_config(oadp_cfg, init_weights=True).train()}
    assert arms["baseline"].teacher is None and arms["oadp"].teacher is not None
    missing, unexpected = arms["oadp"].student.load_state_dict(arms["baseline"].student.state_dict(), strict=False)
    assert not unexpected and all(k.split(".")[1] in ("object_head", "block_head", "global_head") for k in missing)
    optimizers = {name: m.configure_optimizers()["optimizer"] for name, m in arms.items()}
    timer = Timer()
    instrument(arms["oadp"], timer)

    datamodule = DetDataModule(oadp_cfg, splits=("train",))
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
            t0 = time.perf_counter()
            loss = module.training_step(data, i)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            t3 = time.perf_counter()
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
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
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

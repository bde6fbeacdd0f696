"""What a gradient-share step costs: one distillation training step with and without the diagnostic
(``train_cfg.grad_share_interval``), interleaved on the same batches in one run, on the demo pair (Faster R-CNN
R18-FPN student and teacher, feature mimic on 5 FPN levels: 5 features, 1 distillation loss).

    python bench/grad_share_cost.py [--iters 20] [--batch-size 4] [--device cpu|cuda]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import detection_mimic_config, train_step  # noqa: E402  (it also moves to the repo root)
from densekd import DistillModule  # noqa: E402
from densekd.core.data import DataModule  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    scratch = tempfile.TemporaryDirectory()
    cfg = detection_mimic_config(scratch.name, args.batch_size, **{"distiller.warmup_iters": 0})
    module = DistillModule.from_config(cfg).to(device).train()
    step = train_step(module)
    batches = iter(DataModule(cfg, splits=("train",)).train_dataloader())

    times = {0: [], 1: []}
    for i in range(args.warmup + args.iters):
        batch = next(batches)
        for interval in times:  # interleaved: machine noise hits both alike
            if device.type == "cuda":
                torch.cuda.synchronize()
            module.grad_share_interval = interval  # outside a Trainer the step is always 0: 1 measures every step
            start = time.perf_counter()
            step(batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[interval].append(time.perf_counter() - start)
    plain, measured = statistics.median(times[0]), statistics.median(times[1])
    print(f"device: {device}, batch {args.batch_size}, {args.iters} timed iterations (medians)")
    print(f"  step without grad shares {plain * 1000:8.1f} ms")
    print(f"  step with grad shares    {measured * 1000:8.1f} ms")
    print(f"with / without = {measured / plain:.3f}")


if __name__ == "__main__":
    main()

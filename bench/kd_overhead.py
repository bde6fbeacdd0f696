"""Distillation overhead on the demo models: is a distillation step just a student step plus a
teacher forward?

Times, interleaved in one run on the same batches: (a) a student-only training step, (b) a teacher
forward (what distillation needs of it), (c) a distillation training step. Prints c / (a + b)
(goal: <= 1.10) and each phase's peak memory: the CUDA allocator's peak on GPU; on CPU the peak
resident-memory growth while the phase runs for the first time in a fresh process (sampled
every 0.5 ms; what the phase itself needs on top of the loaded models).

    python bench/kd_overhead.py [--iters 20] [--batch-size 4] [--device cpu|cuda]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from common import (detection_mimic_config, peak_memory_mb, peak_rss_growth_mb, teacher_forward,  # noqa: E402
                    train_step)  # (bench/ is on sys.path)

from densekd import DistillModule  # noqa: E402
from densekd.core.data import DataModule  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: one phase, print its peak RSS
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    scratch = tempfile.TemporaryDirectory()  # removed at exit (76 MB per run)
    cfg = detection_mimic_config(scratch.name, args.batch_size)
    distill = DistillModule.from_config(cfg).to(device).train()
    plain = DistillModule.from_config(cfg, with_teacher=False).to(device).train()
    batches = iter(DataModule(cfg, splits=("train",)).train_dataloader())

    phases = {"student step": train_step(plain), "teacher forward": teacher_forward(distill),
              "distill step": train_step(distill)}
    if args.only:
        print(peak_rss_growth_mb(phases[args.only], next(batches)))
        return None
    times = {name: [] for name in phases}
    peaks = {}
    for i in range(args.warmup + args.iters):
        batch = next(batches)
        for name, fn in phases.items():  # interleaved: machine noise hits all three alike
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            fn(batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
            if device.type == "cuda":
                peaks[name] = max(peaks.get(name, 0.0), peak_memory_mb(device))

    if device.type == "cpu":  # RSS never shrinks: measure each phase in a process of its own
        for name in phases:
            cmd = [sys.executable, __file__, "--only", name, "--batch-size", str(args.batch_size), "--device", "cpu"]
            peaks[name] = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["distill step"] / (med["student step"] + med["teacher forward"])
    print(f"device: {device}, batch {args.batch_size}, {args.iters} timed iterations (medians)")
    for name in phases:
        print(f"  {name:16s} {med[name] * 1000:8.1f} ms   peak memory {peaks[name]:8.1f} MiB")
    print(f"distill / (student + teacher) = {ratio:.3f}  (goal <= 1.10)")
    return ratio


if __name__ == "__main__":
    ratio = main()
    sys.exit(0 if ratio is None or ratio <= 1.10 else 1)

"""Training-step cost of the 3D detectors: PointPillars and SECOND, teachers and students, on the
demo scenes at the demo grid and at KITTI's full grid.

Times, interleaved in one run on the same batches of generated scenes (so machine noise hits every
model alike): one training step (forward, loss, backward, optimizer) of each model. Reports the
median step and its ratio to the demo PointPillars student's, and each model's peak memory: the CUDA
allocator's peak on GPU; on CPU the peak resident-memory growth of its first step in a fresh process
(sampled every 0.5 ms). The KITTI-grid rows run KITTI's configs on the same scenes: their points fill
only the demo's 41 x 41 m of KITTI's 70 x 80 m, so SECOND's sparse cost is the demo's, PointPillars'
dense backbone cost is KITTI's.

    python bench/det3d_step.py [--iters 5] [--batch-size 2] [--device cpu|cuda] [--only-demo]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from common import build_lidar, lidar_demo_data, peak_rss_growth_mb, train_step  # noqa: E402  (bench/ is on sys.path)


MODELS = {  # name -> config; the first is the reference of the ratios
    "PointPillars student (demo)": "configs/demo/pointpillars_student_lidar.py",
    "PointPillars teacher (demo)": "configs/demo/pointpillars_teacher_lidar.py",
    "SECOND student (demo)": "configs/demo/second_student_lidar.py",
    "SECOND teacher (demo)": "configs/demo/second_teacher_lidar.py",
    "PointPillars 4x student (KITTI grid)": "configs/det3d/pointpillars_kitti_3class_4x.py",
    "PointPillars (KITTI grid)": "configs/det3d/pointpillars_kitti_3class.py",
    "SECOND 4x student (KITTI grid)": "configs/det3d/second_kitti_3class_4x.py",
    "SECOND (KITTI grid)": "configs/det3d/second_kitti_3class.py",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only-demo", action="store_true", help="skip the KITTI-grid models")
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "densekd_bench_kitti"))
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: one model, print its peak RSS
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    root = lidar_demo_data(args.data)
    names = [n for n in MODELS if not (args.only_demo and "KITTI" in n)]
    if args.only:
        module, batches = build_lidar(MODELS[args.only], root, args.batch_size)
        print(peak_rss_growth_mb(train_step(module.to(device).train()), next(batches)))
        return
    built = {n: build_lidar(MODELS[n], root, args.batch_size) for n in names}
    steps = {n: train_step(m.to(device).train()) for n, (m, _) in built.items()}
    reference = iter(built[names[0]][1])
    times, peaks = {n: [] for n in names}, {}
    for i in range(args.warmup + args.iters):
        batch = next(reference)
        for name in names:  # interleaved, the same scenes for every model
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            steps[name](batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
                peaks[name] = max(peaks.get(name, 0.0), torch.cuda.max_memory_allocated(device) / 2**20)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
            print(f"  {name}: step {i} {time.perf_counter() - start:.2f} s", file=sys.stderr, flush=True)
    if device.type == "cpu":  # RSS never shrinks: each model's first step in a process of its own
        for name in names:
            cmd = [sys.executable, __file__, "--only", name, "--batch-size", str(args.batch_size),
                   "--data", root, "--device", "cpu"]
            peaks[name] = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"device: {device}, batch {args.batch_size} scenes, {args.iters} timed steps (medians), "
          f"threads {torch.get_num_threads()}")
    print(f"{'model':38s} {'params':>8s} {'step':>9s} {'x ref':>7s} {'peak MiB':>9s}")
    for name in names:
        params = sum(p.numel() for p in built[name][0].student.parameters()) / 1e6
        print(f"{name:38s} {params:7.2f}M {med[name] * 1000:7.0f}ms {med[name] / med[names[0]]:7.2f} "
              f"{peaks[name]:9.0f}")


if __name__ == "__main__":
    main()

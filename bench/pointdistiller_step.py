"""PointDistiller's cost: the distillation step over the student-alone step on the demo pair, and its
neighbour search at the paper's scale against a naive full distance matrix.

1. Steps, interleaved in one run on the same batches of generated scenes: the demo PointPillars student
   alone; with a plain pillar-feature mimic (the teacher's forward plus a 1x1 conv: what any
   distillation costs here); with PointDistiller (the demo config: the reference's proportions); and the
   teacher's forward alone. Medians, ratios to the student alone, and PointDistiller's step over (student
   step + teacher forward), the goal <= 1.10 of issue 23. The teacher is the demo teacher's network with
   random weights (timing only).
2. KNN at a stress scale, densekd's per-scene graphs before issue 23 (the configs now take the reference's
   share: about 1000 centres and K = 21): N = 6000 centres of each scene's 12000 pillars (KITTI's
   max_voxels for training is 12000-16000), 64 channels, K = 128, 2 scenes: densekd's
   ``knn_within_groups`` (chunked, per scene) against a naive search over one full distance matrix of
   the batch (the reference's way: queries x all pillars of every scene). Time and peak memory (CUDA
   allocator peak on GPU; on CPU the peak RSS growth of each search in a fresh process).

    python bench/pointdistiller_step.py [--iters 10] [--device cpu|cuda]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from common import (build_lidar, lidar_demo_data, peak_rss_growth_mb, random_lidar_teacher,  # noqa: E402
                    teacher_forward, train_step)  # (bench/ is on sys.path)

from densekd.core.graph import knn_within_groups  # noqa: E402


STEPS = {  # name -> config; the first is the reference of the ratios
    "student alone": "configs/demo/pointpillars_student_lidar.py",
    "+ pillar mimic (teacher forward + 1x1 conv)": "configs/demo/pointpillars_mimic_lidar.py",
    "+ PointDistiller (the reference's proportions)": "configs/demo/pointpillars_pointdistiller_lidar.py",
}
TEACHER_FORWARD = "teacher forward (no grad)"
SCENES, PILLARS, CENTRES, K, CHANNELS = 2, 12000, 6000, 128, 64


def knn_problem(device):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(SCENES * PILLARS, CHANNELS, generator=generator).to(device)
    groups = torch.arange(SCENES, device=device).repeat_interleave(PILLARS)
    centres = torch.cat([s * PILLARS + torch.randperm(PILLARS, generator=generator)[:CENTRES] for s in range(SCENES)])
    return features, groups, centres.to(device)


def naive_knn(features, groups, centres):
    """The reference's search: one (queries, all pillars of the batch) distance matrix, nearest K."""
    return torch.cdist(features[centres], features).topk(K, dim=1, largest=False).indices


def grouped_knn(features, groups, centres):
    return knn_within_groups(features, groups, K, centres)


SEARCHES = {"knn_within_groups (per scene, chunks of 1024)": grouped_knn, "naive full distance matrix": naive_knn}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "densekd_bench_kitti"))
    parser.add_argument("--only-search", help=argparse.SUPPRESS)  # internal: one search, print its peak RSS
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.only_search:
        problem = knn_problem(device)
        print(peak_rss_growth_mb(SEARCHES[args.only_search], *problem))
        return

    # 1. steps
    root = lidar_demo_data(args.data)
    scratch = tempfile.TemporaryDirectory()  # removed at exit
    teacher = random_lidar_teacher(scratch.name)
    built = {n: build_lidar(c, root, args.batch_size, None if n == "student alone" else {"teacher.checkpoint": teacher})
             for n, c in STEPS.items()}
    steps = {n: train_step(m.to(device).train()) for n, (m, _) in built.items()}
    steps[TEACHER_FORWARD] = teacher_forward(built[list(STEPS)[2]][0])
    batches = built["student alone"][1]
    times = {n: [] for n in steps}
    for i in range(args.warmup + args.iters):
        batch = next(batches)
        for name in steps:  # interleaved: the same scenes for every variant
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            steps[name](batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"device: {device}, threads {torch.get_num_threads()}, batch {args.batch_size} demo scenes, "
          f"{args.iters} timed steps (medians)")
    print(f"{'step':46s} {'median':>9s} {'x alone':>8s}")
    for name in steps:
        print(f"{name:46s} {med[name] * 1000:7.0f}ms {med[name] / med['student alone']:8.2f}")
    alone, mimic, graph = list(STEPS)
    floor = med[alone] + med[TEACHER_FORWARD]
    print(f"PointDistiller / (student step + teacher forward): {med[graph] / floor:.2f} (goal <= 1.10); "
          f"mimic / (student step + teacher forward): {med[mimic] / floor:.2f}")
    print(f"PointDistiller over the mimic step (the graph's own cost): {med[graph] / med[mimic]:.2f}")

    # 2. neighbour search at the paper's scale
    problem = knn_problem(device)
    grouped, naive = grouped_knn(*problem), naive_knn(*problem)
    crossing = (problem[1][naive] != problem[1][problem[2]][:, None]).float().mean().item()
    same = (grouped.sort(dim=1).values == naive.sort(dim=1).values).all(dim=1).float().mean().item()
    print(f"\nKNN: {SCENES} scenes x {PILLARS} pillars, {CENTRES} centres each, {CHANNELS} channels, K = {K}")
    print(f"  naive search: {100 * crossing:.1f} % of neighbours from another scene; "
          f"{100 * same:.1f} % of centres get the same neighbours")
    print(f"{'search':48s} {'median':>9s} {'peak MiB':>9s}")
    result = {}
    for name, search in SEARCHES.items():
        runs = []
        for _ in range(3):
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            search(*problem)
            if device.type == "cuda":
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - start)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**20
        else:  # RSS never shrinks: each search in a process of its own
            cmd = [sys.executable, __file__, "--only-search", name, "--device", "cpu"]
            peak = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
        result[name] = statistics.median(runs), peak
        print(f"{name:48s} {result[name][0] * 1000:7.0f}ms {peak:9.0f}")
    (t_grouped, m_grouped), (t_naive, m_naive) = result.values()
    print(f"knn_within_groups over naive: time {t_grouped / t_naive:.2f}x, peak memory {m_grouped / m_naive:.2f}x")


if __name__ == "__main__":
    main()

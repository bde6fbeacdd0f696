"""What PointDistiller's teacher-side targets keep of the teacher (issue 23).

On generated demo scenes, the demo config's graphs (the reference's proportions) around the teacher's pillar
features: the teacher's own edge features E ([neighbour, centre], 2 C channels) and what each target makes
of them, T: ``'fixed_adapter'`` (densekd's old default: a random Conv-BN-ReLU to the student's width; the
reference's trained adapter starts as the same thing) and ``'standardized'`` (E standardised per channel).
Per target: the share of exactly-zero target values, and R^2 of the best affine map T -> E (least squares
over all edges): the share of the teacher's edge variance that the target still holds. 1 keeps everything.

    python bench/pointdistiller_targets.py [--teacher CKPT] [--batches 4]

Without ``--teacher`` the demo teacher's network has random weights; pass the trained demo teacher's
checkpoint (``work_dirs/demo_full/lidar_teacher/last.ckpt`` after ``make demo-full``) for the recorded numbers.
"""
import argparse
import os
import tempfile

import torch

from common import build_lidar, lidar_demo_data, random_lidar_teacher  # noqa: E402  (bench/ is on sys.path)

from densekd.core.config import load_config  # noqa: E402
from densekd.core.graph import edge_features  # noqa: E402
from densekd.core.registry import build  # noqa: E402

CONFIG = "configs/demo/pointpillars_pointdistiller_lidar.py"
TARGETS = ("fixed_adapter", "standardized")


def kept_variance(target, edges):
    """R^2 of the least-squares affine map from ``target`` (M, A) to ``edges`` (M, B), over all B channels."""
    inputs = torch.cat([target, torch.ones(len(target), 1, dtype=target.dtype)], dim=1).double()
    solution = torch.linalg.lstsq(inputs, edges.double()).solution
    residual = edges.double() - inputs @ solution
    return 1 - residual.pow(2).sum().item() / (edges.double() - edges.double().mean(0)).pow(2).sum().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="the demo teacher's checkpoint (default: random weights)")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "densekd_bench_kitti"))
    args = parser.parse_args()
    torch.manual_seed(0)
    scratch = tempfile.TemporaryDirectory()
    teacher = args.teacher or random_lidar_teacher(scratch.name)
    module, batches = build_lidar(CONFIG, lidar_demo_data(args.data), args.batch_size, {"teacher.checkpoint": teacher})
    distillers = {}
    for target in TARGETS:
        torch.manual_seed(0)
        distillers[target] = build({**load_config(CONFIG).distiller, "target": target}).train()
    path = module.distiller.teacher_features[0]
    edges, targets, sizes = [], {t: [] for t in TARGETS}, []
    with torch.no_grad():
        for _ in range(args.batches):
            batch = next(batches)
            data = module.student.data_preprocessor(batch, training=True)
            with module.teacher_recorder:
                module._run_teacher(data["inputs"], data["data_samples"])
            feature = module.teacher_recorder.records[path]
            rows, groups, centres, _, neighbours = module.distiller.teacher_graphs(feature, data, path)
            scenes = len(torch.unique(groups))
            sizes.append((len(rows) / scenes, len(centres) / scenes, neighbours.shape[1]))
            edges.append(edge_features(rows.float(), centres, neighbours).flatten(0, 1))
            for target, distiller in distillers.items():
                targets[target].append(distiller.teacher_target(0, rows, centres, neighbours).flatten(0, 1))
    edges = torch.cat(edges)
    pillars, centres, k = (sum(s[i] for s in sizes) / len(sizes) for i in range(3))
    print(f"teacher: {'trained, ' + args.teacher if args.teacher else 'random weights'}; {args.batches} batches of "
          f"{args.batch_size} demo scenes: {pillars:.0f} pillars, {centres:.0f} centres a scene, K = {k:.0f}; "
          f"{len(edges)} edges of {edges.shape[1]} channels")
    print(f"{'target':16s} {'channels':>8s} {'zeros':>7s} {'R^2 (teacher edges from target)':>32s}")
    for target in TARGETS:
        values = torch.cat(targets[target])
        print(f"{target:16s} {values.shape[1]:8d} {(values == 0).float().mean().item():7.1%} "
              f"{kept_variance(values, edges):32.3f}")


if __name__ == "__main__":
    main()

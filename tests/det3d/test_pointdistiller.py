"""PointDistiller's LocalGraphDistiller: centres per scene, neighbours within the scene, graph sizes at the
reference's proportions, reweighting, the targets, the loss by hand, config values honoured, bad settings
refused; its configs train (tests/det3d/test_det3d_configs.py style) with the teacher frozen; the distilled
student exports to plain mmdet3d."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, kitti_options, load_tool
from test_det3d_configs import logged, train

from densekd.det3d.pointdistiller import LocalGraphDistiller, importance_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread", "restore_scope")

PD_CONFIGS = {  # PointDistiller config -> its teacher's config
    "configs/pointdistiller_kitti_pointpillars_4x.py": "configs/det3d/pointpillars_kitti_3class.py",
    "configs/pointdistiller_kitti_pointpillars_16x.py": "configs/det3d/pointpillars_kitti_3class.py",
    "configs/pointdistiller_kitti_second_4x.py": "configs/det3d/second_kitti_3class.py",
}
PP_DEMO_TEACHER = "configs/demo/pointpillars_teacher_lidar.py"
SECOND_DEMO_TEACHER = "configs/demo/second_teacher_lidar.py"
DEMO_DISTILLED = {  # demo config -> its teacher's config
    "configs/demo/pointpillars_pointdistiller_lidar.py": PP_DEMO_TEACHER,
    "configs/demo/pointpillars_mimic_lidar.py": PP_DEMO_TEACHER,
    "configs/demo/second_pointdistiller_lidar.py": SECOND_DEMO_TEACHER,
    "configs/demo/second_pointdistiller_first_stage_lidar.py": SECOND_DEMO_TEACHER,
    "configs/demo/second_mimic_lidar.py": SECOND_DEMO_TEACHER,
}


def voxel_batch(scenes, num_points):
    """The part of an mmdet3d voxelized batch the distiller reads: scene ids and points per voxel."""
    scenes = torch.as_tensor(scenes)
    coors = torch.stack([scenes, torch.zeros_like(scenes), torch.zeros_like(scenes), torch.zeros_like(scenes)], 1)
    return {"inputs": {"voxels": {"coors": coors, "num_points": torch.as_tensor(num_points)}}}


def distiller(**overrides):
    args = dict(student_features=["s"], teacher_features=["t"], student_channels=1, teacher_channels=1,
                num_centres=2, num_neighbours=2, temperature=1.0)
    return LocalGraphDistiller(**{**args, **overrides})


def test_neighbours_never_cross_scenes():
    # two interleaved scenes on a line: every centre's nearest voxel (0.1 away) belongs to the other scene
    x = torch.arange(8, dtype=torch.float32)
    teacher = torch.cat([2 * x, 2 * x + 0.1])[:, None]
    scenes = torch.cat([torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)])
    d = distiller(num_centres=4, num_neighbours=3)
    centres, _, neighbours = d.local_graphs(teacher, scenes, torch.rand(16))
    assert len(centres) == 8 and (scenes[centres] == torch.tensor([0] * 4 + [1] * 4)).all()
    assert (scenes[neighbours] == scenes[centres][:, None]).all()
    assert torch.equal(neighbours[:, 0], centres)
    assert ((teacher[neighbours[:, 1:], 0] - teacher[centres][:, None, 0]).abs() >= 2 - 1e-6).all()


def test_reweighting_is_uniform_for_equal_importances_and_moves_the_loss_otherwise():
    torch.manual_seed(0)
    student, teacher = torch.randn(10, 1), torch.randn(10, 1)
    scenes = [0] * 5 + [1] * 5
    losses = {}
    for reweight in ("softmax", "none"):
        torch.manual_seed(1)
        d = distiller(num_centres=3, reweight=reweight)
        for name, counts in (("equal", [4] * 10), ("unequal", [1, 9, 3, 7, 5, 2, 8, 6, 4, 10])):
            _, weights, _ = d.local_graphs(teacher, torch.as_tensor(scenes), torch.tensor(counts, dtype=torch.float))
            if name == "equal" or reweight == "none":
                assert torch.allclose(weights, torch.ones(6))
            else:  # softmax over each scene's 3 centres (counts 9, 7, 5 and 10, 8, 6), times 3
                expected = torch.softmax(torch.tensor([9.0, 7, 5]), 0) * 3
                torch.testing.assert_close(weights, torch.cat([expected, expected]))
            losses[reweight, name] = d({"s": student}, {"t": teacher}, voxel_batch(scenes, counts))["loss_graph"]
    torch.testing.assert_close(losses["softmax", "equal"], losses["none", "equal"])
    assert not torch.isclose(losses["softmax", "unequal"], losses["none", "unequal"])


def test_standardized_reweighting_weighs_more_than_one_centre_where_counts_differ_modestly():
    counts = torch.tensor([10.0, 11.0, 12.0, 13.0])
    weights = importance_weights(counts, "standardized")
    z = (counts - 11.5) / math.sqrt(1.25)  # standardised over the 4 centres
    torch.testing.assert_close(weights, 4 * torch.exp(z) / torch.exp(z).sum())
    assert weights.sum().item() == pytest.approx(4.0) and (weights.diff() > 0).all()
    assert weights.max() < 2.5 and weights.min() > 0.15  # every centre counts
    reference = importance_weights(counts, "softmax", temperature=0.01)  # the reference's: an argmax
    assert reference[-1].item() == pytest.approx(4.0) and reference[:-1].max() < 1e-30
    assert torch.equal(importance_weights(torch.full((3,), 7.0), "standardized"), torch.ones(3))  # no spread


def test_as_run_weights_equal_the_batch_size():
    torch.manual_seed(0)
    teacher, scenes = torch.randn(12, 1), torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    d = distiller(num_centres=2, reweight="as_run", importance="teacher_channel_max")
    _, weights, _ = d.local_graphs(teacher, scenes, teacher[:, 0])
    assert torch.equal(weights, torch.full((6,), 3.0))
    _, weights, _ = distiller(reweight="none").local_graphs(teacher, scenes, teacher[:, 0])
    assert torch.equal(weights, torch.ones(6))


def test_loss_on_a_two_scene_example_equals_the_hand_computed_value():
    teacher, student = [0.0, 1.0, 3.0, 10.0, 12.0], [1.0, -1.0, 2.0, 0.5, 3.0]
    scenes, counts = [0, 0, 0, 1, 1], [5, 3, 4, 2, 7]
    d = distiller(loss_weight=1.5, target="fixed_adapter")
    with torch.no_grad():  # EdgeConv weights [on neighbour, on centre], one output channel
        d.student_adapters[0].weight.copy_(torch.tensor([[0.5, -1.0]]))
        d.teacher_adapters[0].weight.copy_(torch.tensor([[2.0, 1.0]]))
    loss = d({"s": torch.tensor(student)[:, None]}, {"t": torch.tensor(teacher)[:, None]},
             voxel_batch(scenes, counts))["loss_graph"]

    # By hand: the 2 most-populated voxels per scene are 0 (5 points), 2 (4) and 4 (7), 3 (2); their 2
    # nearest in teacher space (itself first): 0 -> 1, 2 -> 1 (2 away; 0 is 3 away), 4 -> 3, 3 -> 4.
    graph = {0: [0, 1], 2: [2, 1], 4: [4, 3], 3: [3, 4]}
    weights = {0: 2 * math.exp(5) / (math.exp(5) + math.exp(4)), 2: 2 * math.exp(4) / (math.exp(5) + math.exp(4)),
               4: 2 * math.exp(7) / (math.exp(7) + math.exp(2)), 3: 2 * math.exp(2) / (math.exp(7) + math.exp(2))}

    def side(values, on_neighbour, on_centre):  # 1x1 conv over [neighbour, centre], BN over the 8 edges, ReLU
        edges = {(c, n): on_neighbour * values[n] + on_centre * values[c] for c, ns in graph.items() for n in ns}
        mean = sum(edges.values()) / len(edges)
        var = sum((e - mean) ** 2 for e in edges.values()) / len(edges)
        return {key: max(0.0, (e - mean) / math.sqrt(var + 1e-5)) for key, e in edges.items()}

    s, t = side(student, 0.5, -1.0), side(teacher, 2.0, 1.0)
    weighted = sum(weights[c] * (s[c, n] - t[c, n]) ** 2 for c, ns in graph.items() for n in ns)
    expected = 1.5 * weighted / (2 * sum(weights.values()))  # weighted mean over centres x K
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0.1


@pytest.mark.parametrize("target", ["fixed_adapter", "trained_adapter"])
def test_the_teacher_adapter_is_fixed_unless_asked(target):
    torch.manual_seed(0)
    d = distiller(target=target)
    student = torch.randn(6, 1, requires_grad=True)
    d({"s": student}, {"t": torch.randn(6, 1)}, voxel_batch([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6]))["loss_graph"].backward()
    assert student.grad is not None and d.student_adapters[0].weight.grad is not None
    teacher_side = [p.grad for p in d.teacher_adapters.parameters()]
    assert len(teacher_side) == 3  # the conv weight, the BN's weight and bias
    assert all(g is not None for g in teacher_side) if target == "trained_adapter" else all(g is None for g in teacher_side)


def test_the_standardized_target_is_the_teachers_edges_standardised_per_channel():
    teacher = torch.tensor([[0.0, 4.0], [1.0, 2.0], [3.0, 0.0], [10.0, 1.0]])  # one scene, 2 channels
    d = LocalGraphDistiller(["s"], ["t"], student_channels=3, teacher_channels=2, num_centres=2, num_neighbours=2,
                            importance="teacher_channel_max", target="standardized")
    assert len(d.teacher_adapters) == 0 and d.student_adapters[0].weight.shape == (4, 6)  # 2 x the teacher's width
    centres, neighbours = torch.tensor([3, 0]), torch.tensor([[3, 2], [0, 1]])
    target = d.teacher_target(0, teacher, centres, neighbours)
    # edges [neighbour, centre]: (3,3) (2,3) (0,0) (1,0) -> channel columns, each standardised over the 4 edges
    edges = torch.tensor([[10.0, 1, 10, 1], [3, 0, 10, 1], [0, 4, 0, 4], [1, 2, 0, 4]])
    by_hand = (edges - edges.mean(0)) / torch.sqrt(edges.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(target, by_hand.view(2, 2, 4))
    assert (target < 0).any() and (target.abs() > 0.1).all()  # no ReLU: nothing thrown away
    student = torch.randn(4, 3, requires_grad=True)  # the batch's graphs from the teacher's channel max
    loss = d({"s": student}, {"t": teacher}, voxel_batch([0] * 4, [1] * 4))["loss_graph"]
    loss.backward()
    assert loss > 0 and student.grad.abs().sum() > 0


def test_bev_maps_use_the_teacher_channel_max_and_one_scene_per_map():
    torch.manual_seed(0)
    teacher, student = torch.randn(2, 4, 3, 5), torch.randn(2, 2, 3, 5)
    d = LocalGraphDistiller(["s"], ["t"], student_channels=2, teacher_channels=4, importance="teacher_channel_max",
                            num_centres=3, num_neighbours=4)
    rows, scenes = d._rows(teacher, None, "t")
    centres, _, neighbours = d.local_graphs(rows, scenes, d._importance(rows, None))
    peak = teacher.amax(dim=1).flatten(1)  # (2, 15): each map's channel max per position
    assert torch.equal(centres[:3].sort().values, peak[0].topk(3).indices.sort().values)
    assert torch.equal(centres[3:].sort().values, 15 + peak[1].topk(3).indices.sort().values)
    assert (scenes[neighbours] == scenes[centres][:, None]).all()
    assert torch.isfinite(d({"s": student}, {"t": teacher}, None)["loss_graph"])


def test_clear_errors_for_mismatched_voxels_and_missing_counts():
    d = distiller()
    with pytest.raises(ValueError, match="same voxels"):
        d({"s": torch.randn(4, 1)}, {"t": torch.randn(5, 1)}, voxel_batch([0] * 5, [1] * 5))
    with pytest.raises(ValueError, match="data\\['inputs'\\]\\['voxels'\\]\\['coors'\\]"):
        d({"s": torch.randn(4, 1)}, {"t": torch.randn(4, 1)}, {"inputs": {}})
    with pytest.raises(ValueError, match="teacher_channel_max"):
        d({"s": torch.randn(2, 1, 2, 2)}, {"t": torch.randn(2, 1, 2, 2)}, None)
    with pytest.raises(ValueError, match="importance must be one of"):
        distiller(importance="points")


@pytest.mark.parametrize("overrides, message", [
    (dict(num_centres=20), r"distiller.num_centres=20 is more than a scene's 6 rows"),
    (dict(num_neighbours=7), r"distiller.num_neighbours=7 is more than a scene's 6 rows"),
    (dict(num_neighbours=0), r"distiller.num_neighbours must be an integer >= 1, got 0"),
    (dict(num_centres=None, centre_share=1.5), r"distiller.centre_share must be in \(0, 1\], got 1.5"),
    (dict(centre_share=0.5), r"give one of distiller.num_centres .* and distiller.centre_share"),
    (dict(num_neighbours=None), r"give one of distiller.num_neighbours"),
    (dict(temperature=0), r"distiller.temperature must be > 0, got 0"),
    (dict(temperature=-1.0), r"distiller.temperature must be > 0"),
    (dict(reweight=True), r"distiller.reweight must be one of \('softmax', 'standardized', 'none', 'as_run'\)"),
    (dict(target="teacher"), r"distiller.target must be one of"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(overrides, message):
    student, teacher = torch.randn(6, 1), torch.randn(6, 1)
    with pytest.raises(ValueError, match=message) as error:
        distiller(**overrides)({"s": student}, {"t": teacher}, voxel_batch([0] * 6, [1, 2, 3, 4, 5, 6]))
    assert "\n" not in str(error.value)


def test_graph_sizes_follow_the_reference_proportions():
    from densekd.core.config import load_config
    from densekd.core.registry import build

    pillars = build(load_config("configs/pointdistiller_kitti_pointpillars_4x.py").distiller)
    # the reference: 6000 centres and K = 128 over a batch of 6 KITTI scenes of about 12000 pillars each
    assert (pillars.centres[0].of(12000), pillars.neighbours[0].of(12000)) == (1000, 21)
    assert (pillars.centres[0].of(1300), pillars.neighbours[0].of(1300)) == (108, 2)  # a demo scene
    assert pillars.neighbours[0].of(100) == 1  # at least the centre itself
    second = build(load_config("configs/pointdistiller_kitti_second_4x.py").distiller)
    # per scene, 256 centres and K = 128 on KITTI's 200 x 176 and 100 x 88 stage maps; the demo's are 64 x 64, 32 x 32
    for stage, (kitti, demo) in enumerate(((200 * 176, 64 * 64), (100 * 88, 32 * 32))):
        assert (second.centres[stage].of(kitti), second.neighbours[stage].of(kitti)) == (256, 128)
        assert (second.centres[stage].of(demo), second.neighbours[stage].of(demo)) == (30, 15)
    # tools/distill.py on a voxel detector: as many centres on every BEV stage, whatever their number
    from densekd.core.pairing import stage_shares

    kitti_stages = [(1, 128, 200, 176), (1, 256, 100, 88)]
    assert stage_shares(second.centres[0].share, kitti_stages) == pytest.approx([256 / 35200, 256 / 8800])
    three = stage_shares([0.01, 0.5], [(1, 8, 64, 64), (1, 8, 32, 32), (1, 8, 8, 8)])
    assert three == pytest.approx([0.01, 0.04, 0.64]) and stage_shares(0.1, [(1, 8, 4, 4), (1, 8, 2, 2)])[1] == 0.4
    assert stage_shares(0.5, [(1, 8, 4, 4), (1, 8, 2, 2)]) == [0.5, 1.0]  # at most the whole stage
    # on a batch: each scene's N from its own size, K from the batch's mean scene size
    scenes = torch.tensor([0] * 1200 + [1] * 1400)
    centres, weights, neighbours = pillars.local_graphs(torch.randn(2600, 4), scenes, torch.rand(2600))
    assert ((scenes[centres] == 0).sum().item(), (scenes[centres] == 1).sum().item()) == (100, 117)
    assert neighbours.shape == (217, 2) and weights.shape == (217,)


def test_n_and_k_from_the_config_change_the_computation():
    from densekd.core.config import load_config
    from densekd.core.registry import build

    torch.manual_seed(0)
    teacher, student = torch.randn(40, 64), torch.randn(40, 32)
    scenes, counts = [0] * 25 + [1] * 15, torch.randint(1, 30, (40,)).tolist()
    results = {}
    for n, k in ((15, 8), (10, 8), (10, 4)):
        cfg = load_config("configs/pointdistiller_kitti_pointpillars_4x.py",
                          {"distiller.num_centres": n, "distiller.num_neighbours": k,
                           "distiller.centre_share": None, "distiller.neighbour_share": None})
        torch.manual_seed(1)
        d = build(cfg.distiller)
        assert (d.centres[0].count, d.neighbours[0].count) == (n, k)
        centres, _, neighbours = d.local_graphs(teacher, torch.as_tensor(scenes), torch.tensor(counts, dtype=torch.float))
        assert neighbours.shape == (2 * n, k)
        results[n, k] = d({"voxel_encoder": student}, {"voxel_encoder": teacher}, voxel_batch(scenes, counts))["loss_graph"].item()
    assert len({round(v, 6) for v in results.values()}) == 3, results


@pytest.fixture(scope="module")
def random_teachers(tmp_path_factory):
    """Randomly initialised teachers of the PointDistiller configs, saved as native checkpoints."""
    from densekd.core.config import load_config
    from densekd.core.registry import build, use_scope

    paths = {}
    for config in sorted(set(PD_CONFIGS.values()) | set(DEMO_DISTILLED.values())):
        cfg = load_config(config)
        use_scope(cfg)
        torch.manual_seed(0)
        path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
        torch.save({"state_dict": build(cfg.model).state_dict()}, path)
        paths[config] = str(path)
    return paths


@pytest.mark.parametrize("config", list(PD_CONFIGS) + list(DEMO_DISTILLED))
def test_distillation_config_trains_two_iterations(config, random_teachers, kitti_root, tmp_path):
    teacher = random_teachers[PD_CONFIGS.get(config) or DEMO_DISTILLED[config]]
    trainer = train(config, tmp_path, kitti_options(config, kitti_root, **{"teacher.checkpoint": teacher}))
    assert trainer.global_step == 2
    name = "train/loss_mimic" if "mimic" in config else "train/loss_graph"
    values = logged(tmp_path, name)
    assert len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values), values
    assert all(math.isfinite(v) and v > 0 for v in logged(tmp_path, "train/loss_cls"))


@pytest.fixture(scope="module")
def distilled_run(random_teachers, kitti_root, tmp_path_factory):
    """Two iterations of the demo PointDistiller config (teacher: a random demo teacher); the trainer and
    its work directory."""
    config = "configs/demo/pointpillars_pointdistiller_lidar.py"
    work_dir = tmp_path_factory.mktemp("pointdistiller")
    options = kitti_options(config, kitti_root, iters=3, **{"teacher.checkpoint": random_teachers[PP_DEMO_TEACHER]})
    return train(config, work_dir, options), work_dir


def test_teacher_stays_in_eval_mode_with_unchanged_statistics(distilled_run, random_teachers):
    trainer, _ = distilled_run
    module = trainer.lightning_module
    saved = torch.load(random_teachers[PP_DEMO_TEACHER], map_location="cpu", weights_only=True)["state_dict"]
    assert trainer.global_step == 3
    assert not any(m.training for m in module.teacher.modules())
    assert all(m.training for m in module.student.modules())  # Lightning's train() reached the student
    statistics = [k for k in saved if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(statistics) > 10
    for key, value in module.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
    # the student's adapter runs in training mode (its BN on the batch's edges); the teacher's side is its own
    # standardised edges, nothing to train
    assert module.distiller.student_adapters[0].norm.num_batches_tracked.item() == 3
    assert module.distiller.target == "standardized" and len(module.distiller.teacher_adapters) == 0


def test_distilled_student_exports_to_plain_mmdet3d_and_predicts_boxes(distilled_run, kitti_root, tmp_path):
    _, work_dir = distilled_run
    config = "configs/demo/pointpillars_pointdistiller_lidar.py"
    ckpt = torch.load(work_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert any(k.startswith("distiller.") for k in ckpt["state_dict"])
    assert not any(k.startswith("teacher.") for k in ckpt["state_dict"])
    ckpt["state_dict"]["student.bbox_head.conv_cls.bias"].fill_(1.0)  # confident, so that boxes come out
    torch.save(ckpt, tmp_path / "last.ckpt")
    out = tmp_path / "export"
    load_tool("export_student").main([config, str(tmp_path / "last.ckpt"), str(out)])
    exported = torch.load(out / "student.pth", map_location="cpu", weights_only=True)
    exported = exported.get("state_dict", exported)
    assert not [k for k in exported if k.startswith(("teacher", "distiller", "student."))]
    scan = os.path.join(kitti_root, "training", "velodyne_reduced", "000004.bin")
    script = f"""
import sys
from mmdet3d.apis import init_model, inference_detector
model = init_model({str(out / 'student_config.py')!r}, {str(out / 'student.pth')!r}, device='cpu')
assert not [m for m in sys.modules if m.startswith('densekd')], 'loading the student imported densekd'
result, _ = inference_detector(model, {scan!r})
print(tuple(result.pred_instances_3d.bboxes_3d.tensor.shape))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    count, width = eval(done.stdout.strip().splitlines()[-1])
    assert count > 0 and width == 7


def test_local_graph_picture_draws_centres_and_neighbours(random_teachers, kitti_root, tmp_path):
    from PIL import Image

    from densekd.det3d.visualize import GRAPH_COLOURS, TITLE_HEIGHT

    config = "configs/demo/pointpillars_pointdistiller_lidar.py"
    scans = [os.path.join(kitti_root, "training", "velodyne_reduced", f"{i:06d}.bin") for i in (4, 5)]
    out = tmp_path / "graph.png"
    load_tool("visualize").main(["--mode", "graph", "--config", config, "--scenes", *scans, "--out", str(out),
                                 "--scale", "4", "--cfg-options", f"teacher.checkpoint={random_teachers[PP_DEMO_TEACHER]}"])
    image = np.asarray(Image.open(out).convert("RGB"))
    side = int(round(40.96 * 4))
    assert image.shape == (side + TITLE_HEIGHT, 2 * side, 3)
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert all(colour in colours for colour in GRAPH_COLOURS[:5])  # five example graphs

"""The 3D wing's configs on generated KITTI-format scenes: each trains two iterations through
tools/train.py; mmdet3d's KittiMetric scores perfect predictions 100 on our infos; the exported
student loads in plain mmdet3d; a plain mmdet3d config with densekd as a plugin builds densekd's parts.

The scenes are the synthetic LiDAR frames in the real KITTI layout, prepared by prepare_kitti (JSON
infos, GT database); the configs are pointed at them only through ``--cfg-options``, as a user would.
"""
import csv
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REPO, as_argv, kitti_options, load_tool

train_tool = load_tool("train")

KITTI = ["configs/det3d/pointpillars_kitti_3class.py", "configs/det3d/pointpillars_kitti_3class_4x.py",
         "configs/det3d/pointpillars_kitti_3class_16x.py", "configs/det3d/second_kitti_3class.py",
         "configs/det3d/second_kitti_3class_4x.py", "configs/det3d/second_kitti_3class_16x.py"]
DEMO = ["configs/demo/pointpillars_student_lidar.py", "configs/demo/pointpillars_teacher_lidar.py",
        "configs/demo/second_student_lidar.py", "configs/demo/second_teacher_lidar.py"]

pytestmark = pytest.mark.usefixtures("one_torch_thread", "restore_scope")  # these switch to mmdet3d


def train(config, work_dir, options):
    return train_tool.main([config, "--work-dir", str(work_dir), "--devices", "1", "--accelerator", "cpu",
                            *as_argv(options)])


def logged(work_dir, name):
    with open(os.path.join(work_dir, "logs", "version_0", "metrics.csv")) as f:
        return [float(r[name]) for r in csv.DictReader(f) if r.get(name)]


@pytest.mark.parametrize("config", KITTI + DEMO)
def test_config_trains_two_iterations(config, kitti_root, tmp_path):
    trainer = train(config, tmp_path, kitti_options(config, kitti_root))
    assert trainer.global_step == 2
    for loss in ("loss_cls", "loss_bbox", "loss_dir"):
        values = logged(tmp_path, f"train/{loss}")
        assert len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values), (loss, values)
    state = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.startswith("student.bbox_head.conv_cls") for k in state)


def test_kitti_metric_scores_the_ground_truth_100(kitti_root, restore_scope):
    """Perfect predictions (each val frame's ground-truth boxes, score 1) through mmdet3d's KittiMetric on
    densekd's infos score Car AP40 100 in 2D, BEV and 3D: infos, sample indices, box conversions and the
    exact rotated IoU agree with each other. (KITTI's AP40 reads precision at up to 40 recall steps, one
    per true positive: a class with n < 41 objects tops out at (n - 1) / 40, so the other classes
    of 20 frames only score the same in 2D, BEV and 3D.)"""
    from mmdet3d.structures import Det3DDataSample
    from mmengine.structures import InstanceData

    from densekd.core.config import load_config
    from densekd.core.data import DataModule
    from densekd.core.registry import METRICS, build

    config = DEMO[0]
    cfg = load_config(config, kitti_options(config, kitti_root))
    dataset = DataModule(cfg, splits=("test",)).dataset("test")
    metric = build(cfg.test_evaluator, METRICS)
    metric.dataset_meta = dataset.metainfo
    present = set()
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        gt = info["eval_ann_info"]
        pred = InstanceData(bboxes_3d=gt["gt_bboxes_3d"], labels_3d=torch.as_tensor(gt["gt_labels_3d"]),
                            scores_3d=torch.ones(len(gt["gt_labels_3d"])))
        sample = Det3DDataSample(metainfo=dict(sample_idx=info["sample_idx"]))
        sample.pred_instances_3d, sample.pred_instances = pred, InstanceData()
        metric.process({}, [sample.to_dict()])
        present |= {dataset.metainfo["classes"][label] for label in gt["gt_labels_3d"].tolist() if label >= 0}
    results = metric.evaluate(len(dataset))
    assert present == {"Car", "Pedestrian", "Cyclist"}
    for name in present:
        scores = [results[f"Kitti metric/pred_instances_3d/KITTI/{name}_{kind}_AP40_moderate_strict"]
                  for kind in ("2D", "BEV", "3D")]
        assert scores == [scores[0]] * 3 and scores[0] > 0, (name, scores)
        if name == "Car":
            assert scores[0] == pytest.approx(100.0, abs=0.01)


@pytest.fixture(scope="module")
def confident_student(tmp_path_factory):
    """The demo PointPillars student with random weights and its class bias raised (so that it predicts
    boxes), saved as a densekd training checkpoint."""
    from densekd import DistillModule
    from densekd.core.config import load_config

    torch.manual_seed(0)
    student = DistillModule.from_config(load_config(DEMO[0])).student
    torch.nn.init.constant_(student.bbox_head.conv_cls.bias, 1.0)
    path = tmp_path_factory.mktemp("lidar_ckpt") / "last.ckpt"
    torch.save({"state_dict": {f"student.{k}": v for k, v in student.state_dict().items()}}, path)
    return str(path)


def test_export_loads_in_plain_mmdet3d_and_predicts_the_same(confident_student, kitti_root, tmp_path):
    from densekd.det3d.visualize import load_lidar_detector, predict_boxes

    out = tmp_path / "export"
    load_tool("export_student").main([DEMO[0], confident_student, str(out)])
    scan = os.path.join(kitti_root, "training", "velodyne_reduced", "000004.bin")
    boxes, labels = predict_boxes(load_lidar_detector(DEMO[0], confident_student), scan, score_thr=0.0)
    assert len(boxes) > 10
    expected = tmp_path / "expected.npy"
    np.save(expected, boxes)
    script = f"""
import sys, numpy as np
from mmdet3d.apis import init_model, inference_detector
model = init_model({str(out / 'student_config.py')!r}, {str(out / 'student.pth')!r}, device='cpu')
assert not [m for m in sys.modules if m.startswith('densekd')], 'loading the student imported densekd'
result, _ = inference_detector(model, {scan!r})
boxes = result.pred_instances_3d.bboxes_3d.tensor.numpy()
rows = lambda b: b[np.lexsort(np.round(b, 3).T[::-1])]  # the same boxes; equal scores may come in any order
np.testing.assert_allclose(rows(boxes), rows(np.load({str(expected)!r})), atol=1e-4)
print(model.dataset_meta['classes'], len(boxes))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"['Pedestrian', 'Cyclist', 'Car'] {len(boxes)}"


PLUGIN_CONFIG = """
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']
custom_imports = dict(imports=['densekd'], allow_failed_imports=False)
distiller = dict(type='FeatureMimicDistiller', student_features=['backbone'], teacher_features=['backbone'])
"""
PLUGIN_SCRIPT = """
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet3d.registry import MODELS, TRANSFORMS
from mmdet3d.utils import register_all_modules
register_all_modules()
cfg = Config.fromfile(sys.argv[1])  # imports densekd, as mmdet3d's tools do
init_default_scope('mmdet3d')
distiller = MODELS.build(cfg.distiller)
sampler = TRANSFORMS.get('JsonDataBaseSampler')
from mmdet3d.evaluation.functional.kitti_utils import eval as kitti_eval
print(type(distiller).__name__, sampler.__name__, kitti_eval.bev_box_overlap.__module__, type(MODELS.build(cfg.model)).__name__)
"""


def test_plain_mmdet3d_config_builds_densekd_parts(tmp_path):
    config = tmp_path / "plugin_cfg.py"
    config.write_text(PLUGIN_CONFIG)
    done = subprocess.run([sys.executable, "-c", PLUGIN_SCRIPT, str(config)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["FeatureMimicDistiller", "JsonDataBaseSampler", "densekd.det3d.compat", "VoxelNet"]


def test_missing_kitti_fails_fast_naming_path_and_prepare_tool(tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        train(KITTI[0], tmp_path / "work", kitti_options(KITTI[0], str(tmp_path / "no_kitti") + "/"))
    assert time.perf_counter() - start < 10
    assert str(tmp_path / "no_kitti") in str(err.value) and "tools/prepare_kitti.py" in str(err.value)


def test_bev_corners_put_the_front_edge_first():
    from densekd.det3d.visualize import box_corners_bev

    # a 4 x 2 box at (10, 5) heading +y (yaw pi/2): its front edge is at y = 7, from x = 11 to x = 9
    corners = box_corners_bev([10, 5, -1, 4, 2, 1.5, np.pi / 2])[0]
    np.testing.assert_allclose(sorted(corners[:2].tolist()), [[9, 7], [11, 7]], atol=1e-9)
    np.testing.assert_allclose(corners.mean(axis=0), [10, 5], atol=1e-9)


def test_bev_picture_draws_points_truth_and_predictions(confident_student, kitti_root, tmp_path):
    from PIL import Image

    from densekd.det3d.visualize import CLASS_COLOURS, GT_COLOUR, TITLE_HEIGHT

    scans = [os.path.join(kitti_root, "training", "velodyne_reduced", f"{i:06d}.bin") for i in (4, 5)]
    out = tmp_path / "bev.png"
    load_tool("visualize").main(["--mode", "bev", "--model", "a", DEMO[0], confident_student, "--model", "b",
                                 DEMO[0], confident_student, "--scenes", *scans, "--out", str(out),
                                 "--score-thr", "0.5", "--scale", "4",
                                 "--cfg-options", f"test_evaluator.ann_file={kitti_root}kitti_infos_val.json"])
    image = np.asarray(Image.open(out).convert("RGB"))
    side = int(round(40.96 * 4))  # the demo area, 40.96 m square at 4 px / m
    assert image.shape == (TITLE_HEIGHT + 2 * (side + TITLE_HEIGHT), 2 * side, 3)  # one legend, 2 x 2 tiles
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert GT_COLOUR in colours and CLASS_COLOURS[2] in colours  # ground truth and predicted Cars
    assert len(colours) > 50  # points coloured by height

    def coloured(strip):  # pixels neither grey nor black nor white: the legend's class names
        strip = strip.astype(int)
        return int((strip.max(axis=-1) - strip.min(axis=-1) > 60).sum())

    assert coloured(image[:TITLE_HEIGHT]) > 0  # the legend strip names the classes in their colours
    for row in range(2):  # the tiles' title strips hold only their black titles, which the legend cannot overlap
        top = TITLE_HEIGHT + row * (side + TITLE_HEIGHT)
        assert coloured(image[top:top + TITLE_HEIGHT]) == 0


def test_sparse_conv_weights_survive_a_training_checkpoint(tmp_path):
    """spconv's layers take a weight saved without their version for spconv 1's layout and permute it: the
    per-module versions must survive stripping the checkpoint's 'student.' prefix (they once did not)."""
    from densekd import DistillModule
    from densekd.core.config import load_config
    from densekd.core.module import load_pretrained_student, load_student_weights

    cfg = load_config(DEMO[2])  # SECOND: a spconv sparse encoder
    torch.manual_seed(0)
    trained = DistillModule.from_config(cfg)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": trained.state_dict()}, path)  # as Lightning writes it: 'student.' keys + versions
    name = "middle_encoder.conv_out.0.weight"
    for load in (load_student_weights, load_pretrained_student):
        torch.manual_seed(1)
        fresh = DistillModule.from_config(cfg).student
        load(fresh, str(path))
        assert torch.equal(fresh.state_dict()[name], trained.student.state_dict()[name])

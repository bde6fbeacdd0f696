"""Each model's own preprocessing: a teacher whose data preprocessor differs from the student's (a caffe-style
zoo detector beside a pytorch-style student) sees the student's augmented batch through its own preprocessor;
when the two agree nothing extra runs; row-to-row distillers refuse differently voxelized pairs."""
import copy

import pytest
import torch

from conftest import MIMIC_CFG, as_argv, det_options, load_tool, parsed
from densekd import DistillModule
from densekd.core.config import load_config
from densekd.core.data import DataModule
from densekd.core.pairing import plan_distillation
from densekd.det3d.pointdistiller import LocalGraphDistiller

CAFFE_TEACHER = "mmdet::faster_rcnn/faster-rcnn_r101-caffe_fpn_1x_coco.py"  # mean [103.53, ...], std 1, BGR
STUDENT = "mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py"  # pytorch style: ImageNet mean / std, RGB

pytestmark = pytest.mark.usefixtures("one_torch_thread", "restore_scope")


@pytest.fixture(scope="module")
def caffe_teacher(coco_root, tmp_path_factory):
    """mmdet's own caffe-style zoo config after a short demo run (2 iterations on the generated COCO data)."""
    work = tmp_path_factory.mktemp("caffe_teacher")
    config = work / "caffe_teacher.py"
    config.write_text(f"_base_ = ['{CAFFE_TEACHER}']\ntrain_cfg = dict(_delete_=True, max_iters=2)\n"
                      "lr_schedule = dict(policy='constant')\n")
    load_tool("train").main([str(config), "--work-dir", str(work), "--devices", "1", "--accelerator", "cpu",
                             *as_argv(det_options(coco_root))])
    return str(work / "last.ckpt")


def test_a_caffe_teacher_sees_the_batch_as_it_would_alone(caffe_teacher, coco_root):
    cfg = plan_distillation(CAFFE_TEACHER, caffe_teacher, STUDENT, "mimic", parsed(det_options(coco_root))).config
    torch.manual_seed(0)
    module = DistillModule.from_config(cfg)
    assert module.teacher_preprocessing == ["bgr_to_rgb", "mean", "std"]
    batch = next(iter(DataModule(cfg, splits=("train",)).train_dataloader()))
    untouched = copy.deepcopy(batch)

    module.training_step(batch, 0)
    recorded = module.teacher_recorder.records
    with torch.no_grad():
        alone = module.teacher.extract_feat(module.teacher.data_preprocessor(untouched, True)["inputs"])
        on_student_inputs = module.teacher.extract_feat(module.student.data_preprocessor(batch, True)["inputs"])
    assert len(alone) == 5 and set(recorded) == {f"neck[{i}]" for i in range(5)}
    for i, level in enumerate(alone):
        assert torch.equal(recorded[f"neck[{i}]"], level), i
    assert not torch.allclose(recorded["neck[0]"], on_student_inputs[0], atol=1e-3)  # what it got before


def test_agreeing_preprocessors_run_once(teacher_ckpt, shapes_root, monkeypatch):
    from conftest import data_options

    cfg = load_config(MIMIC_CFG, data_options(shapes_root, **{"teacher.checkpoint": teacher_ckpt}))
    module = DistillModule.from_config(cfg)
    assert module.teacher_preprocessing == []

    def refuse(*args, **kwargs):
        raise AssertionError("the teacher's preprocessor ran although it equals the student's")

    monkeypatch.setattr(module.teacher.data_preprocessor, "forward", refuse)
    batch = next(iter(DataModule(cfg, splits=("train",)).train_dataloader()))
    assert torch.isfinite(module.training_step(batch, 0))


@pytest.fixture(scope="module")
def pillar_teacher(tmp_path_factory):
    from densekd.core.registry import build, use_scope

    cfg = load_config("configs/demo/pointpillars_teacher_lidar.py")
    use_scope(cfg)
    path = tmp_path_factory.mktemp("pillars") / "teacher.pth"
    torch.save({"state_dict": build(cfg.model).state_dict()}, path)
    return str(path)


def test_pillar_pointdistiller_refuses_a_teacher_that_voxelizes_differently(pillar_teacher):
    options = {"teacher.checkpoint": pillar_teacher, "model.data_preprocessor.voxel_layer.max_num_points": 16}
    cfg = load_config("configs/demo/pointpillars_pointdistiller_lidar.py", options)
    with pytest.raises(ValueError, match=r"LocalGraphDistiller pairs the student's and the teacher's voxel features "
                                         r"\(voxel_encoder\) row to row, but the two models voxelize differently "
                                         r"\(voxel_layer.max_num_points\).*distill BEV maps instead"):
        DistillModule.from_config(cfg)
    bev = {**options, "distiller.student_features": ["backbone[0]"], "distiller.teacher_features": ["backbone[0]"],
           "distiller.importance": "teacher_channel_max", "distiller.student_channels": 16,
           "distiller.teacher_channels": 32}
    module = DistillModule.from_config(load_config("configs/demo/pointpillars_pointdistiller_lidar.py", bev))
    assert module.teacher_preprocessing == ["voxel_layer.max_num_points"]  # BEV maps pair whatever the voxels


def test_bev_maps_of_different_sizes_are_resized_to_the_teachers():
    torch.manual_seed(0)
    distiller = LocalGraphDistiller(["s"], ["t"], student_channels=4, teacher_channels=6, num_centres=5,
                                    num_neighbours=3, importance="teacher_channel_max")
    student = torch.randn(2, 4, 8, 8, requires_grad=True)
    loss = distiller({"s": student}, {"t": torch.randn(2, 6, 16, 16)}, data={})["loss_graph"]
    loss.backward()
    assert torch.isfinite(loss) and student.grad.abs().sum() > 0

"""The segmentation wing through the core: mmseg configs build densekd's parts (the plugin), the
student exports to plain mmseg, inheritance and local-weights checks."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, load_tool

STUDENT_CFG = "configs/demo/deeplabv3_student_streets.py"

PLUGIN_SCRIPT = """
import sys
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules
register_all_modules()
assert 'densekd' not in sys.modules
cfg = Config.fromfile(sys.argv[1])
assert 'densekd' in sys.modules
distiller = MODELS.build(cfg.distiller)
segmentor = MODELS.build(cfg.model)
print(type(distiller).__name__, distiller.num_masks, distiller.query, type(segmentor).__name__)
"""

PLUGIN_CONFIG = """
_base_ = ['mmseg::_base_/models/deeplabv3_r50-d8.py']
custom_imports = dict(imports=['densekd'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(pretrained=None, backbone=dict(depth=18, norm_cfg=norm_cfg),
             decode_head=dict(in_channels=512, channels=16, norm_cfg=norm_cfg), auxiliary_head=None)
distiller = dict(type='ACAMDistiller', student_features=['decode_head.conv_seg'],
                 teacher_features=['decode_head.conv_seg'], num_masks=7, query='student')
"""


def test_plain_mmseg_config_builds_the_acam_distiller(tmp_path):
    config = tmp_path / "plugin_cfg.py"
    config.write_text(PLUGIN_CONFIG)
    done = subprocess.run([sys.executable, "-c", PLUGIN_SCRIPT, str(config)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ACAMDistiller", "7", "student", "EncoderDecoder"]


def test_build_resolves_types_in_the_config_scope():
    from densekd.core.registry import build, use_scope

    use_scope("mmseg")
    assert type(build(dict(type="ASPPHead", in_channels=8, channels=4, num_classes=3, dilations=(1, 2)))).__name__ == "ASPPHead"
    with pytest.raises(KeyError, match="ACAMDistiler.*Did you mean: ACAMDistiller"):
        build(dict(type="ACAMDistiler", student_features=[], teacher_features=[]))
    use_scope("mmdet")
    assert type(build(dict(type="ACAMDistiller", student_features=["neck"], teacher_features=["neck"]))).__name__ \
        == "ACAMDistiller"


@pytest.fixture(scope="module")
def student_checkpoint(tmp_path_factory):
    """The demo student with random weights, saved as a densekd training checkpoint would be."""
    from densekd import DistillModule
    from densekd.core.config import load_config

    torch.manual_seed(0)
    student = DistillModule.from_config(load_config(STUDENT_CFG)).student
    path = tmp_path_factory.mktemp("seg_ckpt") / "last.ckpt"
    torch.save({"state_dict": {f"student.{k}": v for k, v in student.state_dict().items()}}, path)
    return str(path), student


def test_export_loads_in_plain_mmseg_and_predicts_the_same(student_checkpoint, tmp_path):
    checkpoint, student = student_checkpoint
    out = tmp_path / "export"
    load_tool("export_student").main([STUDENT_CFG, checkpoint, str(out)])
    image = tmp_path / "street_leftImg8bit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(image)
    expected = tmp_path / "expected.npy"

    from mmseg.apis import inference_model
    from densekd.core.config import load_config

    student.cfg = load_config(STUDENT_CFG)
    np.save(expected, inference_model(student.eval(), str(image)).pred_sem_seg.data.numpy())
    script = f"""
import sys, numpy as np
from mmseg.apis import init_model, inference_model
model = init_model({str(out / 'student_config.py')!r}, {str(out / 'student.pth')!r}, device='cpu')
assert 'densekd' not in sys.modules, 'loading the student imported densekd'
result = inference_model(model, {str(image)!r})
assert np.array_equal(result.pred_sem_seg.data.numpy(), np.load({str(expected)!r}))
print(model.dataset_meta['classes'][:2], len(model.dataset_meta['palette']), tuple(result.pred_sem_seg.shape))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['road', 'sidewalk'] 19 (64, 128)"


def test_inheritance_copies_matching_teacher_weights_and_names_mismatches():
    from densekd.core.config import load_config
    from densekd.core.module import inherit_teacher_weights
    from densekd.core.registry import build, use_scope

    cfg = load_config(STUDENT_CFG)
    use_scope(cfg)
    torch.manual_seed(0)
    student, same_width = build(cfg.model), build(cfg.model)
    report = inherit_teacher_weights(student, same_width, ["decode_head"])
    for key, value in same_width.decode_head.state_dict().items():
        assert torch.equal(student.decode_head.state_dict()[key], value)
    assert not torch.equal(student.backbone.stem[0].weight, same_width.backbone.stem[0].weight)  # only what was asked
    assert report.startswith("inherit_from_teacher: ")
    wider = build(load_config("configs/demo/deeplabv3_teacher_streets.py").model)
    with pytest.raises(ValueError, match="no teacher weight under these prefixes"):
        inherit_teacher_weights(student, wider, ["backbone"])


def test_missing_local_pretrained_weights_fail_before_building():
    from densekd import DistillModule
    from densekd.core.config import load_config

    cfg = load_config(STUDENT_CFG)
    cfg.model.pretrained = "checkpoints/not-there.pth"
    with pytest.raises(FileNotFoundError, match="pretrained weights not found: checkpoints/not-there.pth"):
        DistillModule.from_config(cfg, init_weights=True)
    DistillModule.from_config(cfg, init_weights=False)  # a resumed or evaluated run does not need them


def test_dataset_meta_falls_back_to_the_dataset_class():
    from densekd.core.config import dataset_meta, load_config

    meta = dataset_meta(load_config(STUDENT_CFG))
    assert len(meta["classes"]) == 19 and meta["classes"][-1] == "bicycle"
    assert tuple(meta["palette"][0]) == (128, 64, 128)
    assert dataset_meta(load_config("configs/demo/faster_rcnn_student_shapes.py"))["classes"][0] == "circle"


def test_test_tool_prints_the_per_class_table_and_writes_metrics(student_checkpoint, street_root, tmp_path, capsys):
    checkpoint, _ = student_checkpoint
    options = [f"test_dataloader.dataset.data_root={street_root}", "test_dataloader.num_workers=0"]
    metrics = load_tool("test").main([STUDENT_CFG, checkpoint, "--work-dir", str(tmp_path), "--accelerator", "cpu",
                                      "--cfg-options", *options])
    written = json.load(open(tmp_path / "metrics.json"))
    assert set(written) >= {"mIoU", "mAcc", "aAcc", "IoU.road", "Acc.bicycle"}
    assert written["mIoU"] == metrics["mIoU"] and 0.0 <= written["aAcc"] <= 100.0
    ious = [v for k, v in written.items() if k.startswith("IoU.") and v is not None]  # None: absent class
    assert abs(sum(ious) / len(ious) - written["mIoU"]) < 0.01
    out = capsys.readouterr().out
    assert "| class | IoU | Acc |" in out and "| road |" in out and "| mIoU |" in out

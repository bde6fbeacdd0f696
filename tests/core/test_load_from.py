"""``load_from``: a fresh run starts its student from another model's checkpoint (SoCo, a base-class
pretraining) where names and shapes match; the rest keeps its initialisation."""
import pytest
import torch

from conftest import STUDENT_CFG
from densekd import DistillModule
from densekd.core.config import load_config
from densekd.core.registry import build


@pytest.fixture
def donor(tmp_path):
    """An mmdet-style checkpoint of a different detector: the same backbone, a wider head, extra keys."""
    torch.manual_seed(1)
    model = build(load_config(STUDENT_CFG).model)
    state = {k: v + 1.0 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    state["roi_head.bbox_head.fc_cls.weight"] = torch.zeros(3, 7)  # another shape: skipped
    state["roi_head.mask_head.conv_logits.weight"] = torch.zeros(2, 2)  # not in the student: skipped
    path = tmp_path / "soco_like.pth"
    torch.save({"state_dict": state, "meta": {"note": "mmdet 2.x layout"}}, path)
    return str(path), state


def test_load_from_loads_what_matches_and_reports_the_rest(donor, capsys):
    path, state = donor
    cfg = load_config(STUDENT_CFG, {"load_from": path})
    torch.manual_seed(0)
    student = DistillModule.from_config(cfg, init_weights=True).student
    own = student.state_dict()
    assert torch.equal(own["backbone.conv1.weight"], state["backbone.conv1.weight"])
    assert torch.equal(own["neck.fpn_convs.0.conv.bias"], state["neck.fpn_convs.0.conv.bias"])
    assert own["roi_head.bbox_head.fc_cls.weight"].shape != state["roi_head.bbox_head.fc_cls.weight"].shape
    report = capsys.readouterr().out
    assert f"load_from {path}: loaded {len(own) - 1} of the student's {len(own)} entries" in report
    assert "skipped for their shape: roi_head.bbox_head (1)" in report
    assert "not in the student: roi_head.mask_head (1)" in report


def test_load_from_only_on_fresh_runs_and_with_clear_errors(donor, tmp_path):
    path, state = donor
    cfg = load_config(STUDENT_CFG, {"load_from": path})
    resumed = DistillModule.from_config(cfg, init_weights=False).student  # a resumed run loads its own checkpoint
    assert not torch.equal(resumed.state_dict()["backbone.conv1.weight"], state["backbone.conv1.weight"])
    with pytest.raises(FileNotFoundError, match="load_from checkpoint not found: .*nothing.pth"):
        DistillModule.from_config(load_config(STUDENT_CFG, {"load_from": str(tmp_path / "nothing.pth")}),
                                  init_weights=True)
    torch.save({"state_dict": {"encoder.layer.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no entry matches the student"):
        DistillModule.from_config(load_config(STUDENT_CFG, {"load_from": str(tmp_path / "other.pth")}),
                                  init_weights=True)

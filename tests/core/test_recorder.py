import pytest
import torch
from torch import nn

from densekd.core.recorder import FeatureRecorder, parse_path


class Pair(nn.Module):
    def forward(self, x):
        return x + 1, x * 2


def toy():
    return nn.Sequential(nn.Linear(2, 2), nn.Sequential(Pair()))


def test_parse_path():
    assert parse_path("neck[2]") == ("neck", 2)
    assert parse_path("backbone.layer4") == ("backbone.layer4", None)
    with pytest.raises(ValueError, match="bad feature path"):
        parse_path("neck[x]")


def test_records_outputs_and_tuple_items_then_removes_hooks():
    model = toy()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    recorder = FeatureRecorder(model, ["0", "1.0[0]", "1.0[1]"])
    x = torch.tensor([[1.0, 2.0]])
    with recorder:
        model(x)
    assert torch.equal(recorder.records["0"], x)
    assert torch.equal(recorder.records["1.0[0]"], torch.tensor([[2.0, 3.0]]))
    assert torch.equal(recorder.records["1.0[1]"], torch.tensor([[2.0, 4.0]]))
    assert all(not m._forward_hooks for m in model.modules())


def test_wrong_path_lists_closest_paths():
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Linear(2, 2))
    model.neck = nn.Linear(2, 2)
    with pytest.raises(KeyError, match="neck") as err:
        FeatureRecorder(model, ["nek"])
    assert "Closest existing paths" in str(err.value)


def test_index_past_output_length_is_an_error():
    model = toy()
    recorder = FeatureRecorder(model, ["1.0[5]"])
    with pytest.raises(IndexError, match="length 2"), recorder:
        model(torch.zeros(1, 2))


def test_module_that_did_not_run_is_reported():
    model = toy()
    recorder = FeatureRecorder(model, ["0"])
    with pytest.raises(RuntimeError, match="not recorded"), recorder:
        pass

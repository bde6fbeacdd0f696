"""Class vocabularies, the ViLD prompt ensemble and tools/build_text_embeddings.py."""
import json

import pytest
import torch
import torch.nn.functional as F

from densekd.ovd.splits import OV_COCO_BASE, SHAPES_BASE, SHAPES_NOVEL
from densekd.ovd.text import (
    VILD_TEMPLATES,
    config_names,
    load_text_embeddings,
    prompt_name,
    save_text_embeddings,
    text_embeddings,
    vocabulary_names,
)
from conftest import STUDENT_CFG, load_tool

DEMO_CLIP = dict(model_name="densekd-demo-vit-tiny", model_config_file="configs/clip/densekd-demo-vit-tiny.json")


@pytest.fixture(scope="module")
def demo_clip():
    """The demo CLIP architecture with random weights (no file needed)."""
    from densekd.ovd.clip_teacher import ObjectAwareCLIP

    torch.manual_seed(0)
    return ObjectAwareCLIP(**DEMO_CLIP, pretrained=None)


class RecordingTeacher:
    """A stand-in teacher: fixed random embeddings per text, and a log of the batches it saw."""

    def __init__(self, dim=8):
        self.dim, self.calls, self.table = dim, [], {}

    def encode_text(self, texts):
        self.calls.append(list(texts))
        for text in texts:
            if text not in self.table:
                self.table[text] = torch.randn(self.dim, generator=torch.Generator().manual_seed(len(self.table)))
        return F.normalize(torch.stack([self.table[t] for t in texts]), dim=-1)


def test_vild_templates():
    assert len(VILD_TEMPLATES) == 74 and len(set(VILD_TEMPLATES)) == 74
    assert all(t.count("{}") == 1 for t in VILD_TEMPLATES)
    known = ("This is a {}", "a photo of a {}", "There is a {} in the scene", "This is one large {} in the picture")
    assert set(known) <= set(VILD_TEMPLATES)


def test_ensemble_equals_hand_computation(demo_clip):
    names = ["circle", "crescent", "baseball_bat"]
    templates = ["a photo of a {}", "There is a {} in the scene", "This is one large {} in the picture"]
    ours = text_embeddings(demo_clip, names, templates, batch_size=4)  # chunks cut across templates
    tokenizer, clip = demo_clip.tokenizer, demo_clip.clip
    with torch.no_grad():
        per_template = [F.normalize(clip.encode_text(tokenizer([t.format(n.replace("_", " ")) for n in names])), dim=-1)
                        for t in templates]
    expected = torch.stack(per_template).mean(dim=0)
    expected = expected / expected.norm(dim=-1, keepdim=True)
    assert ours.shape == (3, demo_clip.embed_dim) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(3))
    # the final normalisation matters: the plain mean of unit vectors is shorter than one
    assert (torch.stack(per_template).mean(dim=0).norm(dim=-1) < 0.999).all()


def test_batching_does_not_change_the_result():
    teacher = RecordingTeacher()
    names = [f"name {i}" for i in range(7)]
    whole = text_embeddings(teacher, names, VILD_TEMPLATES[:5], batch_size=1000)
    assert len(teacher.calls) == 1 and len(teacher.calls[0]) == 35
    chunked = text_embeddings(teacher, names, VILD_TEMPLATES[:5], batch_size=3)
    assert max(len(c) for c in teacher.calls[1:]) == 3
    torch.testing.assert_close(whole, chunked)


def test_underscores_become_spaces_in_prompts():
    assert prompt_name("baseball_bat") == "baseball bat"
    assert prompt_name("bat_(animal)") == "bat (animal)"
    teacher = RecordingTeacher()
    text_embeddings(teacher, ["baseball_bat", "tv"], ["a photo of a {}"])
    assert teacher.calls == [["a photo of a baseball bat", "a photo of a tv"]]


def test_bad_inputs_say_what_was_wrong():
    with pytest.raises(ValueError, match="empty"):
        text_embeddings(RecordingTeacher(), [], VILD_TEMPLATES)
    with pytest.raises(ValueError, match="exactly one"):
        text_embeddings(RecordingTeacher(), ["a"], ["no placeholder"])
    with pytest.raises(ValueError, match="unknown vocabulary 'coco'.*ov_coco"):
        vocabulary_names("coco")


def test_vocabularies():
    ov_coco = vocabulary_names("ov_coco")
    assert len(ov_coco) == 65 == len(set(ov_coco)) and tuple(ov_coco[:48]) == OV_COCO_BASE
    lvis = vocabulary_names("lvis")
    assert len(lvis) == 1203 == len(set(lvis)) and "baseball_bat" in lvis
    assert vocabulary_names("shapes") == list(SHAPES_BASE + SHAPES_NOVEL)
    assert len(config_names(STUDENT_CFG)) == 10


def test_save_and_load_round_trip(tmp_path):
    embeddings = F.normalize(torch.randn(3, 5), dim=-1)
    path = str(tmp_path / "sub" / "e.safetensors")
    save_text_embeddings(path, embeddings, ["a", "b_c", "d"], num_templates=74)
    loaded, names, metadata = load_text_embeddings(path)
    torch.testing.assert_close(loaded, embeddings)
    assert names == ["a", "b_c", "d"] and metadata == {"num_templates": 74}
    with pytest.raises(ValueError, match="C = len"):
        save_text_embeddings(path, embeddings, ["a"])


def test_build_text_embeddings_tool(tmp_path, capsys):
    from safetensors import safe_open

    config = tmp_path / "teacher.py"
    config.write_text(f"clip_teacher = dict(model_name={DEMO_CLIP['model_name']!r}, "
                      f"model_config_file={DEMO_CLIP['model_config_file']!r}, pretrained=None)\n")
    out = tmp_path / "shapes_text.safetensors"
    tool = load_tool("build_text_embeddings")
    tool.main(["--teacher", str(config), "--vocabulary", "shapes", "--out", str(out), "--device", "cpu"])
    assert "10 classes x 74 templates" in capsys.readouterr().out
    with safe_open(str(out), framework="pt") as f:
        header = f.metadata()
        embeddings = f.get_tensor("embeddings")
    assert json.loads(header["names"]) == list(SHAPES_BASE + SHAPES_NOVEL)
    assert json.loads(header["num_templates"]) == 74
    assert embeddings.shape == (10, 128) and embeddings.dtype == torch.float32
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(10))
    # from a config's classes; a missing teacher config exits with a clear message
    tool.main(["--teacher", str(config), "--classes-from", STUDENT_CFG, "--out", str(out), "--device", "cpu"])
    assert load_text_embeddings(str(out))[1] == config_names(STUDENT_CFG)
    with pytest.raises(SystemExit, match="teacher config not found"):
        tool.main(["--teacher", str(tmp_path / "nope.py"), "--vocabulary", "shapes", "--out", str(out)])
    with pytest.raises(SystemExit, match="CLIP weights not found: other/clip.safetensors"):  # --cfg-options reach it
        tool.main(["--teacher", str(config), "--vocabulary", "shapes", "--out", str(out),
                   "--cfg-options", "clip_teacher.pretrained=other/clip.safetensors"])

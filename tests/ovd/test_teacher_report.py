"""The CLIP-on-proposals report: a confusion matrix of cached object embeddings against the ground
truth under each proposal, checked on a hand-made cache."""
import json

import pytest
import torch

from conftest import load_tool
from densekd.ovd.feature_store import write_store
from densekd.ovd.teacher_report import confusion_summary, confusion_table, proposal_confusion
from densekd.ovd.text import save_text_embeddings

EYE = torch.eye(4)
CAT, DOG, COW = EYE[0], EYE[1], EYE[2]
# image -> (proposal boxes, their object embeddings)
CACHE = {
    1: ([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [CAT, CAT, DOG]),  # cat right, dog called cat, bg
    2: ([[0, 0, 9, 9], [0, 0, 10, 20]], [COW, DOG]),  # cow at IoU 0.81 right; cow at IoU 0.5 called dog
}


@pytest.fixture
def report_inputs(tmp_path):
    text = str(tmp_path / "text.safetensors")
    save_text_embeddings(text, EYE[:3], ["cat", "dog", "cow"])
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(dict(
        images=[dict(id=1, file_name="1.jpg", width=64, height=64), dict(id=2, file_name="2.jpg", width=64, height=64)],
        categories=[dict(id=1, name="cat"), dict(id=2, name="dog"), dict(id=3, name="cow")],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 10, 10]),
                     dict(id=2, image_id=1, category_id=2, bbox=[20, 20, 10, 10]),
                     dict(id=3, image_id=2, category_id=3, bbox=[0, 0, 10, 10])])))

    def worker(device):
        def compute(image_id):
            boxes, embeddings = CACHE[image_id]
            return {"object_boxes": torch.tensor(boxes, dtype=torch.float32),
                    "objects": torch.stack(embeddings).half()}
        return compute

    cache = str(tmp_path / "cache")
    write_store(cache, [1, 2], worker, metadata={"kind": "test"}, shard_size=1)
    return cache, text, str(ann)


def test_confusion_by_hand(report_inputs):
    matrix, classes = proposal_confusion(*report_inputs)
    assert classes == ["cat", "dog", "cow"]
    assert matrix.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 1, 0]]  # rows: cat, dog, cow, background
    rows = {r["cls"]: r for r in confusion_summary(matrix, classes, novel=["cow"])}
    assert (rows["cat"]["top1"], rows["dog"]["top1"], rows["cow"]["top1"]) == (1.0, 0.0, 0.5)
    assert rows["dog"]["most_called"] == "cat (100%)" and rows["cow"]["most_called"] == "dog (50%)"
    assert rows["cow"]["split"] == "novel" and rows["background"]["proposals"] == 1
    assert "| *all objects* | | 4 | 50.0 | |" in confusion_table(matrix, classes)


def test_the_tool_writes_table_json_and_picture(report_inputs, tmp_path):
    cache, text, ann = report_inputs
    out = tmp_path / "report"
    load_tool("clip_proposal_report").main(["--cache", cache, "--text", text, "--ann", ann, "--out", str(out)])
    assert json.loads((out / "report.json").read_text())["confusion"][2] == [0, 1, 1]
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="full annotations"):
        load_tool("clip_proposal_report").main(["--cache", cache, "--text", text, "--ann", ann + ".none",
                                                "--out", str(out)])

"""The CLIP teacher as a detector: its scoring, its AP50 on a hand-made split, its errors."""
import json
import math
import sys

import pytest
import torch

from conftest import load_tool
from densekd.ovd.feature_store import write_store
from densekd.ovd.teacher_detector import class_scores, evaluate_detections, image_detections
from densekd.ovd.text import save_text_embeddings

CLASSES = ["cat", "dog", "cow"]
NOVEL = ["cow"]
TEXT = torch.eye(4)[:3]  # class c's text embedding: unit vector c
# (image id, class, xyxy box); images 64 x 64
GT = [(1, "cat", [0, 0, 10, 10]), (1, "dog", [20, 20, 30, 30]), (2, "cow", [0, 0, 10, 10])]


def test_score_is_softmax_of_scaled_cosine_times_objectness():
    objects = torch.tensor([[3.0, 0, 0, 0], [0, 1, 1, 0]])  # cat exactly (any norm); halfway dog / cow
    scores = class_scores(objects, torch.tensor([0.5, 1.0]), TEXT, logit_scale=math.log(8))
    # e^(ln 8 * 1) / (8 + 1 + 1) = 0.8, times objectness 0.5
    assert scores[0].tolist() == pytest.approx([0.4, 0.05, 0.05])
    assert scores[0].argmax() == 0 and scores[1, 1] == pytest.approx(scores[1, 2])


def test_nms_is_per_class():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 11], [30, 30, 40, 40]], dtype=torch.float32)
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.05], [0.0, 0.7]])
    det = image_detections(boxes, scores)
    # box 1 is suppressed by box 0 (IoU 0.91) in each class; dog keeps box 0 beside box 2; a zero score goes
    assert det["labels"].tolist() == [0, 1, 1]
    assert det["scores"].tolist() == pytest.approx([0.9, 0.7, 0.1])
    assert det["bboxes"][1].tolist() == [30, 30, 40, 40]


@pytest.fixture
def ann_file(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f"{i}.jpg", width=64, height=64) for i in (1, 2)],
        categories=[dict(id=k, name=n) for k, n in enumerate(CLASSES, start=1)],
        annotations=[dict(id=j, image_id=i, category_id=CLASSES.index(n) + 1, iscrowd=0,
                          bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1))
                     for j, (i, n, (x1, y1, x2, y2)) in enumerate(GT, start=1)])))
    return str(path)


def detections(labels_scores):
    """``{image id: detections}`` of the GT boxes with the given ``(class, score)`` each."""
    out = {}
    for (image_id, _, box), (name, score) in zip(GT, labels_scores):
        det = out.setdefault(image_id, dict(bboxes=[], scores=[], labels=[]))
        det["bboxes"].append(box), det["scores"].append(score), det["labels"].append(CLASSES.index(name))
    return {i: dict(bboxes=torch.tensor(d["bboxes"], dtype=torch.float32), scores=torch.tensor(d["scores"]),
                    labels=torch.tensor(d["labels"])) for i, d in out.items()}


def test_ap50_is_one_on_the_ground_truth_and_drops_with_a_wrong_class(ann_file):
    perfect = evaluate_detections(detections([("cat", 0.9), ("dog", 0.8), ("cow", 0.7)]), CLASSES, ann_file, NOVEL)
    assert (perfect["ov/AP50_novel"], perfect["ov/AP50_base"], perfect["ov/AP50_all"]) == pytest.approx((1, 1, 1))
    # the cow called dog, above the real dog: cow AP 0; dog's precision 1/2 at full recall
    wrong = evaluate_detections(detections([("cat", 0.9), ("dog", 0.8), ("dog", 0.95)]), CLASSES, ann_file, NOVEL)
    assert wrong["ov/AP50/cow"] == 0.0 and wrong["ov/AP50/dog"] == pytest.approx(0.5, abs=0.01)
    assert (wrong["ov/AP50_novel"], wrong["ov/AP50_base"], wrong["ov/AP50_all"]) == pytest.approx(
        (0.0, 0.75, 0.5), abs=0.01)


@pytest.fixture
def cache(tmp_path):
    """A CLIP feature cache whose proposals are the GT boxes, each embedded as its own class's text."""
    def worker(device):
        def compute(image_id):
            mine = [(CLASSES.index(n), box) for i, n, box in GT if i == image_id]
            return {"object_boxes": torch.tensor([b for _, b in mine], dtype=torch.float32),
                    "objects": TEXT[[c for c, _ in mine]].half(), "objectness": torch.full((len(mine),), 0.9)}
        return compute

    root = str(tmp_path / "cache")
    write_store(root, [1, 2], worker, metadata={"kind": "test"}, shard_size=1)
    return root


def test_the_tool_writes_metrics_json(cache, ann_file, tmp_path):
    text = str(tmp_path / "text.safetensors")
    save_text_embeddings(text, TEXT, CLASSES)
    out = tmp_path / "eval"
    load_tool("clip_detector_eval").main(["--cache", cache, "--text", text, "--ann", ann_file, "--novel", *NOVEL,
                                          "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["ov/AP50_novel"], metrics["ov/AP50_base"], metrics["ov/AP50_all"]) == pytest.approx((1, 1, 1))


def one_line_error(monkeypatch, capsys, *argv):
    tool = load_tool("clip_detector_eval")
    monkeypatch.setattr(sys, "argv", ["clip_detector_eval.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        tool.run(tool.main)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1 and err.startswith("error: ") and "\n" not in err
    return err


def test_missing_cache_and_mismatched_classes_are_one_line_errors(cache, ann_file, tmp_path, monkeypatch, capsys):
    text = str(tmp_path / "text.safetensors")
    save_text_embeddings(text, TEXT[:2], CLASSES[:2])  # no cow
    args = ["--text", text, "--ann", ann_file, "--novel", *NOVEL, "--out", str(tmp_path / "eval")]
    assert "no feature store at /nowhere/cache" in one_line_error(monkeypatch, capsys, "--cache", "/nowhere/cache", *args)
    assert "has classes ['cow'] that the text embeddings lack" in one_line_error(
        monkeypatch, capsys, "--cache", cache, *args)
    missing_text = ["--text", str(tmp_path / "none.safetensors"), *args[2:]]
    assert "text embeddings not found" in one_line_error(monkeypatch, capsys, "--cache", cache, *missing_text)


def test_a_cache_of_another_split_is_refused(ann_file):
    with pytest.raises(ValueError, match="cover 1 images, .* has 2"):
        evaluate_detections({7: dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0), labels=torch.zeros(0))},
                            CLASSES, ann_file, NOVEL)

"""OADP's student parts, against hand-computed values: text classifier, ensemble, target frames,
block / image labels and the distillation pyramid's losses."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from mmdet.structures import DetDataSample

from densekd.ovd.heads import TextEmbeddingClassifier, branch_config, ensemble_scores
from densekd.ovd.pyramid import DistillationPyramid, block_labels, image_labels
from densekd.ovd.teacher_features import to_input_frame
from densekd.ovd.text import save_text_embeddings

NAMES = ["cat", "dog", "cow"]


@pytest.fixture
def text_file(tmp_path):
    embeddings = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.6, 0.8]])
    path = str(tmp_path / "text.safetensors")
    save_text_embeddings(path, embeddings, NAMES)
    return path


def classifier(text_file, **kwargs):
    head = TextEmbeddingClassifier(in_features=2, text_embeddings=text_file, classes=["dog", "cat", "cow"],
                                   novel_classes=["cow"], **kwargs)
    with torch.no_grad():
        head.project.weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [0, 0], [0, 0]]))
        head.project.bias.zero_()
    return head


def test_classifier_logits_are_cosines_over_the_temperature(text_file):
    head = classifier(text_file, temperature=(0.5, 0.25))
    x = torch.tensor([[3.0, 4.0]])  # projects to (0.6, 0.8, 0, 0)
    head.eval()
    logits = head(x)
    # classes in the config's order: dog (0,1,0,0), cat (1,0,0,0), cow (0,0,.6,.8)
    assert torch.allclose(logits[0, :3], torch.tensor([0.8, 0.6, 0.0]) / 0.25)
    bg = F.normalize(head.background, dim=-1)[0]
    assert torch.allclose(logits[0, 3], (bg[0] * 0.6 + bg[1] * 0.8) / 0.25)
    head.train()
    logits = head(x)
    assert torch.allclose(logits[0, :2], torch.tensor([0.8, 0.6]) / 0.5)
    assert logits[0, 2] == float("-inf")  # novel, while training only


def test_classifier_without_background_and_its_errors(text_file):
    head = classifier(text_file, background="none").eval()
    assert head(torch.ones(2, 2))[:, -1].eq(float("-inf")).all()
    with pytest.raises(ValueError, match="num_classes to 3"):
        TextEmbeddingClassifier(2, text_file, NAMES, out_features=81)
    with pytest.raises(ValueError, match="not among the classes"):
        TextEmbeddingClassifier(2, text_file, NAMES, novel_classes=["yak"])
    with pytest.raises(KeyError, match=r"\['yak'\] are not in the text embeddings"):
        TextEmbeddingClassifier(2, text_file, ["cat", "yak"])
    with pytest.raises(FileNotFoundError, match="build_text_embeddings.py"):
        TextEmbeddingClassifier(2, text_file + ".missing", NAMES)


def test_ensemble_by_hand():
    bbox = torch.log(torch.tensor([[0.5, 0.2, 0.1, 0.2]]))  # dog, cat, cow (novel), background
    obj = torch.log(torch.tensor([[0.2, 0.2, 0.6, 5.0]]))  # its background column is ignored
    lam = torch.tensor([2 / 3, 2 / 3, 1 / 3, 1 / 3])
    scores = ensemble_scores(bbox, obj, lam)
    expected = [0.5 ** (2 / 3) * 0.2 ** (1 / 3), 0.2 ** (2 / 3) * 0.2 ** (1 / 3), 0.1 ** (1 / 3) * 0.6 ** (2 / 3)]
    assert torch.allclose(scores[0, :3], torch.tensor(expected))
    assert math.isclose(scores[0, 3].item(), max(1 - sum(expected), 1e-6), rel_tol=1e-5)


def test_targets_follow_resize_and_flip():
    targets = {"object_boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "objects": torch.ones(1, 4)}
    meta = dict(scale_factor=(2.0, 0.5), flip=True, flip_direction="horizontal", img_shape=(50, 200))
    out = to_input_frame(targets, meta)
    # scaled: (20, 10, 60, 30); flipped in a 200 px wide image: x -> 200 - x
    assert torch.equal(out["object_boxes"], torch.tensor([[140.0, 10.0, 180.0, 30.0]]))
    assert torch.equal(out["objects"], targets["objects"])  # embeddings untouched
    same = to_input_frame(targets, dict(scale_factor=(1.0, 1.0), flip=False, img_shape=(50, 200)))
    assert torch.equal(same["object_boxes"], targets["object_boxes"])


def test_block_and_image_labels_by_hand():
    blocks = torch.tensor([[0.0, 0, 10, 10], [10.0, 0, 20, 10]])
    gt = torch.tensor([[5.0, 5, 8, 8], [9.0, 0, 12, 3], [10.0, 10, 12, 12]])  # the last one only touches
    labels = torch.tensor([0, 2, 1])
    assert block_labels(blocks, gt, labels, 3).tolist() == [[1, 0, 1], [0, 0, 1]]
    assert image_labels(labels, 4).tolist() == [[1, 1, 1, 0]]
    assert image_labels(torch.zeros(0, dtype=torch.long), 2).tolist() == [[0, 0]]


def sample(num_objects=3, num_blocks=2, dim=4, labels=(0,)):
    s = DetDataSample()
    s.gt_instances = InstanceData(bboxes=torch.tensor([[0.0, 0, 8, 8]] * len(labels)), labels=torch.tensor(labels))
    s.clip_targets = {
        "objects": F.normalize(torch.randn(num_objects, dim), dim=-1),
        "blocks": F.normalize(torch.randn(num_blocks, dim), dim=-1),
        "block_boxes": torch.tensor([[0.0, 0, 10, 10], [20.0, 20, 30, 30]])[:num_blocks],
        "global": F.normalize(torch.randn(dim), dim=-1),
    }
    return s


def records(samples, dim=4, classes=3, novel=2):
    """What the RoI head's branches record: embeddings and logits (novel and background at -inf)."""
    out = {}
    for branch, n in (("roi_head.object_head.fc_cls", sum(len(s.clip_targets["objects"]) for s in samples)),
                      ("roi_head.block_head.fc_cls", sum(len(s.clip_targets["blocks"]) for s in samples)),
                      ("roi_head.global_head", len(samples))):
        out[branch + ".project"] = torch.randn(n, dim, requires_grad=True)
        logits = torch.randn(n, classes + 1, requires_grad=True)
        out[branch] = logits.masked_fill(torch.tensor([False] * novel + [True] * (classes - novel) + [True]),
                                         float("-inf"))
    return out


def test_pyramid_losses_by_hand():
    torch.manual_seed(0)
    samples = [sample(), sample(num_objects=2, labels=(1, 0))]
    feats = records(samples)
    pyramid = DistillationPyramid()
    raw = pyramid.compute_losses(feats, {}, dict(data_samples=samples))
    student_obj = F.normalize(feats["roi_head.object_head.fc_cls.project"], dim=-1)
    teacher_obj = torch.cat([s.clip_targets["objects"] for s in samples])
    assert torch.allclose(raw["loss_object"], (student_obj - teacher_obj).abs().mean())
    g_s = F.normalize(feats["roi_head.global_head.project"], dim=-1)
    g_t = torch.stack([s.clip_targets["global"] for s in samples])
    assert torch.allclose(raw["loss_global"], (g_s - g_t).pow(2).sum())  # summed over the batch too
    b_s = F.normalize(feats["roi_head.block_head.fc_cls.project"], dim=-1)
    b_t = torch.cat([s.clip_targets["blocks"] for s in samples])
    # one 4 x 4 Gram matrix over the batch's blocks: the two images' blocks are related too
    assert torch.allclose(raw["loss_block_relation"], ((b_s @ b_s.T) - (b_t @ b_t.T)).pow(2).mean())
    # multi-label: base columns count; the -inf novel column adds exactly nothing, but sits in the
    # mean's denominator (2 images x 3 classes), as in the reference
    logits = feats["roi_head.global_head"][:, :2]
    labels = torch.tensor([[1.0, 0], [1, 1]])
    p = torch.sigmoid(logits)
    neg = (p - 0.05).clamp(min=0)
    expected = -(labels * p.log() + (1 - labels) * neg.pow(4) * (1 - neg).log()).sum() / 6
    assert torch.allclose(raw["loss_global_multilabel"], expected)
    total = sum(raw.values())
    total.backward()
    for tensor in feats.values():
        if tensor.is_leaf:
            assert torch.isfinite(tensor.grad).all()


def test_pyramid_weights_warmup_and_levels():
    torch.manual_seed(0)
    samples = [sample()]
    pyramid = DistillationPyramid(levels=("object",), loss_weights=dict(loss_object=10.0))
    assert pyramid.student_features == ["roi_head.object_head.fc_cls.project", "roi_head.object_head.fc_cls"]
    feats = records(samples)
    raw = pyramid.compute_losses(feats, {}, dict(data_samples=samples))
    assert set(raw) == {"loss_object"}
    weighted = pyramid(feats, {}, dict(data_samples=samples), step=100)  # warm-up 200: half weight
    assert torch.allclose(weighted["loss_object"], raw["loss_object"] * 10.0 * 0.5, rtol=1e-5)
    with pytest.raises(ValueError, match="subset of"):
        DistillationPyramid(levels=("objects",))
    with pytest.raises(KeyError, match="loss_global"):
        DistillationPyramid(levels=("object",), loss_weights=dict(loss_global=1.0))


def test_multilabel_weights_as_the_reference_ran_or_as_configured():
    torch.manual_seed(0)
    samples = [sample()]
    feats = records(samples)
    as_run = DistillationPyramid()
    assert (as_run.loss_weights["loss_block_multilabel"], as_run.loss_weights["loss_global_multilabel"]) == \
        (16 / 1000, 4 / 2000)
    raw = as_run.compute_losses(feats, {}, dict(data_samples=samples))
    weighted = as_run(feats, {}, dict(data_samples=samples), step=0)  # no warm-up: full weight at once
    assert torch.allclose(weighted["loss_global_multilabel"], raw["loss_global_multilabel"] * 0.002)
    assert weighted["loss_object"].item() == 0.0  # the others still warm up from 0
    configured = DistillationPyramid(multilabel_weights="as_configured")
    assert configured.loss_weights["loss_block_multilabel"] == 16.0
    assert configured.warmup_iters["loss_global_multilabel"] == 2000
    weighted = configured(feats, {}, dict(data_samples=samples), step=500)
    assert torch.allclose(weighted["loss_global_multilabel"], raw["loss_global_multilabel"] * 4.0 * 0.25)
    with pytest.raises(ValueError, match="as_run"):
        DistillationPyramid(multilabel_weights="paper")


def test_classifier_scale_and_bias_learn(text_file):
    head = classifier(text_file, scale_bias=(20.0, 4.0), background="none").eval()
    x = torch.tensor([[3.0, 4.0]])  # cosines: dog 0.8, cat 0.6, cow 0
    logits = head(x)
    assert torch.allclose(logits[0, :3], torch.tensor([0.8, 0.6, 0.0]) * 20 - 4)
    head.train()
    logits = head(x)
    assert logits[0, 2] == float("-inf")  # novel, while training
    logits[0, :2].sum().backward()
    assert head.scale.grad.item() == pytest.approx(0.8 + 0.6)
    assert head.bias.grad.item() == pytest.approx(-2.0)
    assert "scale=20, bias=4" in repr(head)
    with pytest.raises(ValueError, match="not both"):
        classifier(text_file, scale_bias=(20.0, 4.0), temperature=(0.1, 0.1))


def test_branch_defaults_follow_the_roi_width():
    cfg = branch_config("object_head", dict(fc_out_channels=64), in_channels=32)
    assert (cfg["type"], cfg["in_channels"], cfg["conv_out_channels"], cfg["fc_out_channels"]) == \
        ("Shared4Conv1FCBBoxHead", 32, 32, 64)
    assert branch_config("global_head", {}, 32)["in_features"] == 32
    assert "conv_out_channels" not in branch_config("block_head", {}, 32)
    for name in ("object_head", "block_head"):  # the reference's learned-prompt classifiers: cos * s - b
        assert branch_config(name, {}, 32)["cls_predictor_cfg"]["scale_bias"] == (20.0, 4.0)
    assert branch_config("global_head", {}, 32)["scale_bias"] == (20.0, 4.0)


def test_vocabulary_from_an_ov_annotation_file(tmp_path, text_file):
    from densekd.ovd.heads import resolve_vocabulary

    ann = tmp_path / "ov.json"
    ann.write_text('{"categories": [{"id": 2, "name": "cow", "split": "novel"}, {"id": 1, "name": "dog", "split": "base"}]}')
    vocab = resolve_vocabulary(dict(text_embeddings=text_file, ann_file=str(ann)))
    assert vocab == dict(text_embeddings=text_file, classes=["dog", "cow"], novel_classes=["cow"])
    with pytest.raises(FileNotFoundError, match="prepare_ov_coco.py"):
        resolve_vocabulary(dict(text_embeddings=text_file, ann_file=str(tmp_path / "none.json")))

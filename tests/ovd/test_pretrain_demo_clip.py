"""densekd.ovd.demo_clip: view sampling, the soft-target loss; tools/pretrain_demo_clip.py: a short run,
saving and zero-shot."""
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torchvision.ops import box_iou

from conftest import REPO, load_tool
from densekd.data.shapes import SHAPES_CLASSES
from densekd.ovd import demo_clip
from densekd.ovd.clip_teacher import ObjectAwareCLIP, clip_teacher_spec
from densekd.ovd.demo_clip import DemoClipRecipe

pdc = load_tool("pretrain_demo_clip")
DEMO_JSON = os.path.join(REPO, "configs", "clip", "densekd-demo-vit-tiny.json")


@pytest.fixture
def teacher_config(tmp_path):
    """A teacher config like configs/demo/clip_teacher_shapes.py, its weights under tmp_path."""
    path = tmp_path / "clip_teacher.py"
    path.write_text(
        "clip_teacher = dict(model_name='densekd-demo-vit-tiny', "
        f"model_config_file={DEMO_JSON!r}, pretrained={str(tmp_path / 'clip' / 'demo.safetensors')!r}, "
        "object_stride_divisor=1)\n"
    )
    return str(path)


def short_run(root, config, *extra):
    return ["--data", root, "--teacher", config, "--steps", "4", "--batch-size", "12", "--warmup", "1",
            "--curriculum", "0", "--no-progress", *extra]


def test_context_squares_hold_the_object_and_stay_in_the_image():
    rng = np.random.default_rng(0)
    boxes = torch.tensor([[10.0, 20.0, 40.0, 35.0], [0.0, 0.0, 150.0, 90.0], [140.0, 140.0, 160.0, 160.0]])
    boxes = boxes.repeat(50, 1)
    squares = demo_clip.object_crop_boxes(boxes, 160, np.zeros(len(boxes), bool), rng)
    side = squares[:, 2] - squares[:, 0]
    torch.testing.assert_close(side, squares[:, 3] - squares[:, 1])
    assert (squares >= -1e-4).all() and (squares <= 160 + 1e-4).all()
    fits = side >= (boxes[:, 2:] - boxes[:, :2]).max(dim=1).values
    inside = (squares[:, :2] <= boxes[:, :2] + 1e-4).all(1) & (squares[:, 2:] >= boxes[:, 2:] - 1e-4).all(1)
    assert inside[fits].all() and fits[0::3].all()
    tight = demo_clip.object_crop_boxes(boxes, 160, np.ones(len(boxes), bool), rng)
    assert ((tight - boxes).abs() <= 0.08 * 150 + 1e-4).all()


def test_proposal_like_boxes_overlap_their_object_like_proposals():
    rng = np.random.default_rng(0)
    boxes = torch.tensor([[10.0, 20.0, 40.0, 35.0], [100.0, 120.0, 160.0, 160.0]]).repeat(200, 1)
    moved = demo_clip.proposal_like_boxes(boxes, 160, rng, jitter=0.3)
    iou = box_iou(moved, boxes).diag()
    assert (iou >= 0.5 - 1e-6).all() and (iou < 0.7).float().mean() > 0.5  # mostly loose, as RPN proposals are
    assert (moved >= 0).all() and (moved <= 160).all()
    torch.testing.assert_close(demo_clip.proposal_like_boxes(boxes, 160, rng, jitter=0.0), boxes)


def test_proposal_jitter_moves_the_context_views_object_boxes_only(shapes_root):
    data = demo_clip.load_split(shapes_root, "train")
    recipe = DemoClipRecipe(batch_size=64, scene_fraction=0.0, tight_fraction=0.5, proposal_jitter=0.3)
    batch = demo_clip.sample_batch(data, recipe, 160, np.random.default_rng(0))
    exact = DemoClipRecipe(batch_size=64, scene_fraction=0.0, tight_fraction=0.5, proposal_jitter=0.0)
    plain = demo_clip.sample_batch(data, exact, 160, np.random.default_rng(0))
    context = (batch.crop_boxes[:, 2] - batch.crop_boxes[:, 0] - batch.crop_boxes[:, 3] + batch.crop_boxes[:, 1]).abs() < 1e-3
    moved = ~torch.isclose(batch.object_boxes, plain.object_boxes).all(dim=1)
    assert moved.any() and (moved <= context).all() and batch.object_token.any()
    assert (batch.object_token <= context).all()  # object-token views are context squares around moved boxes
    assert (box_iou(batch.object_boxes, plain.object_boxes).diag() >= 0.5 - 1e-6).all()


def test_batches_follow_the_curriculum(shapes_root):
    data = demo_clip.load_split(shapes_root, "train")
    recipe = DemoClipRecipe(batch_size=16, scene_fraction=0.25, tight_fraction=0.5)
    rng = np.random.default_rng(0)
    easy = demo_clip.sample_batch(data, recipe, 160, rng, share=0.0)
    assert len(easy.captions) == 16 and not easy.object_token.any() and all(len(k) == 1 for k in easy.keys)
    full = demo_clip.sample_batch(data, recipe, 160, rng, share=1.0)
    assert len(full.captions) == 16 and full.object_token[:12].any()
    assert not full.object_token[-4:].any()  # the 4 scene views use CLS ...
    torch.testing.assert_close(full.object_boxes[-4:], full.crop_boxes[-4:])  # ... over their whole window
    for key, text in zip(full.keys, full.captions):
        assert all(SHAPES_CLASSES[c] in text for c in key)
    hard_share = demo_clip.hard_share
    assert hard_share(0, 100, 0.5) == 0 and hard_share(50, 100, 0.5) == 1 and hard_share(0, 100, 0) == 1


def test_soft_targets_make_same_class_captions_positives():
    keys = [(0,), (1,), (0,), (2, 3)]
    onehot = F.one_hot(torch.tensor([0, 1, 0, 2]), 4).float()  # views of one key share an embedding
    loss = demo_clip.soft_clip_loss(onehot, onehot, keys, logit_scale=100.0)
    expected = (2 * math.log(2) + 0 + 0) / 4  # rows of class 0 spread over their 2 positives
    assert loss.item() == pytest.approx(expected, abs=1e-3)
    wrong = demo_clip.soft_clip_loss(onehot, onehot.roll(1, dims=1), keys, logit_scale=100.0)
    assert wrong > loss + 1


def test_training_lowers_the_loss_on_a_fixed_batch(shapes_root, teacher_config):
    model, tokenizer, wrapper = demo_clip.build_model(clip_teacher_spec(teacher_config), seed=0)
    data = demo_clip.load_split(shapes_root, "train")
    rng = np.random.default_rng(0)
    batch = demo_clip.sample_batch(data, DemoClipRecipe(batch_size=16, tight_fraction=0.5), 160, rng)
    assert batch.object_token.any()  # both the CLS and the object-token path are trained
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1) * 255
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1) * 255
    size = model.visual.image_size[0]
    views, flipped = demo_clip.render(data[0], batch.view_images, batch.crop_boxes, size, mean, std, rng)
    tokens = tokenizer(batch.captions)
    optimizer = demo_clip.make_optimizer(model, 1e-3, 0.0)
    grid = demo_clip.object_token_grid(wrapper)
    losses = []
    for _ in range(4):
        image_emb = demo_clip.embed_views(model, wrapper, views, batch, flipped, grid)
        text_emb = F.normalize(model.encode_text(tokens), dim=-1)
        loss = demo_clip.soft_clip_loss(image_emb, text_emb, batch.keys, model.logit_scale.exp())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_short_run_writes_weights_the_teacher_config_loads(shapes_root, teacher_config, capsys):
    pdc.main(short_run(shapes_root, teacher_config))
    printed = capsys.readouterr().out
    weights = os.path.join(os.path.dirname(teacher_config), "clip", "demo.safetensors")
    record = json.load(open(weights.replace(".safetensors", ".json")))
    assert not [f for f in os.listdir(os.path.dirname(weights)) if f.endswith(".partial")]
    assert math.isfinite(record["final_loss"]) and record["args"]["steps"] == 4
    # the same path a user takes: the teacher config names the weights file
    teacher = ObjectAwareCLIP.from_config(teacher_config)
    saved = load_file(weights)
    for name, value in teacher.clip.state_dict().items():
        torch.testing.assert_close(value, saved[name], rtol=0, atol=0)
    result = record["zero_shot"]
    for kind in ("plain", "object_aware"):
        assert set(result[kind]) == set(SHAPES_CLASSES)
        assert all(0 <= v <= 1 for v in result[kind].values() if not math.isnan(v))
    assert result["novel"] == ["star", "heart", "crescent"] and result["chance"] == pytest.approx(0.1)
    assert "| crescent | **novel** |" in record["zero_shot_table"] and "*chance*" in printed
    # --eval-only re-evaluates the saved file and keeps the training record
    pdc.main(short_run(shapes_root, teacher_config, "--eval-only"))
    again = json.load(open(weights.replace(".safetensors", ".json")))
    assert again["zero_shot"] == result and again["final_loss"] == record["final_loss"]


def test_same_seed_same_weights(shapes_root, teacher_config, tmp_path):
    outs = [str(tmp_path / f"w{i}.safetensors") for i in range(2)]
    for out in outs:
        pdc.main(short_run(shapes_root, teacher_config, "--out", out, "--no-eval", "--steps", "2"))
    first, second = load_file(outs[0]), load_file(outs[1])
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_reuse_copies_weights_only_where_this_recipe_made_them_from_this_data(shapes_root, teacher_config, tmp_path,
                                                                             capsys):
    made, copy, other = (str(tmp_path / f"{name}.safetensors") for name in ("made", "copy", "other"))
    pdc.main(short_run(shapes_root, teacher_config, "--out", made, "--no-eval"))
    pdc.main(short_run(shapes_root, teacher_config, "--out", copy, "--reuse", made))
    assert "reused" in capsys.readouterr().out
    assert open(made, "rb").read() == open(copy, "rb").read()
    record = json.load(open(demo_clip.record_path(copy)))
    assert (record["reused_from"], record["weights"]) == (made, copy)
    pdc.main(short_run(shapes_root, teacher_config, "--out", other, "--reuse", made, "--steps", "2", "--no-eval"))
    assert "not reusing" in capsys.readouterr().out  # another recipe: pretrained
    assert json.load(open(demo_clip.record_path(other)))["args"]["steps"] == 2
    spec, recipe = clip_teacher_spec(teacher_config), DemoClipRecipe(steps=4, batch_size=12, warmup=1, curriculum=0)
    made_record = json.load(open(demo_clip.record_path(made)))
    assert demo_clip.reuse_problem(made_record, spec, recipe, demo_clip.inputs_digest(spec, shapes_root)) is None
    assert "steps=4 (now 2)" in demo_clip.reuse_problem(made_record, spec, DemoClipRecipe(
        steps=2, batch_size=12, warmup=1, curriculum=0), made_record["inputs_sha256"])
    assert "other training images" in demo_clip.reuse_problem(made_record, spec, recipe, "0" * 64)
    assert "no record" in demo_clip.reuse_problem(None, spec, recipe, "0" * 64)


def test_clear_errors(shapes_root, teacher_config, tmp_path):
    with pytest.raises(SystemExit, match="no weights at"):
        pdc.main(short_run(shapes_root, teacher_config, "--eval-only", "--out", str(tmp_path / "none.safetensors")))
    with pytest.raises(SystemExit, match="make the demo data first"):
        pdc.main(short_run(str(tmp_path / "missing"), teacher_config, "--no-eval"))
    with pytest.raises(SystemExit, match="must end in .safetensors"):
        pdc.main(short_run(shapes_root, teacher_config, "--out", str(tmp_path / "w.pt")))


def test_recipe_defaults_are_the_flags_defaults_and_bad_values_are_refused():
    recipe = DemoClipRecipe()
    assert (recipe.steps, recipe.batch_size, recipe.warmup, recipe.context_ratio) == (1440, 128, 144, (1.5, 4.0))
    assert (recipe.tight_fraction, recipe.proposal_jitter) == (0.2, 0.3)
    args, parsed = pdc.parse_args([])
    assert parsed == recipe and args.warmup == 144 and args.lr == 1e-3 and args.curriculum == 0.5
    assert pdc.parse_args(["--proposal-jitter", "0"])[1].proposal_jitter == 0.0  # exact boxes, the old recipe
    assert pdc.parse_args(["--steps", "30"])[1].warmup == 3  # 10% of the steps unless --warmup is given
    with pytest.raises(ValueError, match=r"tight_fraction must be in \[0, 1\], got 1.5"):
        DemoClipRecipe(tight_fraction=1.5)
    with pytest.raises(ValueError, match=r"proposal_jitter must be in \[0, 1\], got -0.1"):
        DemoClipRecipe(proposal_jitter=-0.1)
    with pytest.raises(ValueError, match="context_ratio needs 1 <= LOW <= HIGH"):
        DemoClipRecipe(context_ratio=(4.0, 2.0))
    with pytest.raises(SystemExit):  # argparse's usage error
        pdc.parse_args(["--batch-size", "0"])

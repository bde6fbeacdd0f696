"""ObjectAwareCLIP: exactness against open_clip, the OAKE property, and the box geometry."""
import pytest
import torch
import torch.nn.functional as F

from densekd.ovd.clip_teacher import (
    ObjectAwareCLIP,
    TEACHER_FIELDS,
    block_boxes,
    expand_boxes,
    object_token_masks,
    sliding_positions,
)


def random_image(height, width, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


@pytest.fixture
def clip(tiny_clip):
    """The tiny teacher with the default mask bias restored after each test."""
    yield tiny_clip
    tiny_clip.mask_bias, tiny_clip.batch_size = -100.0, 512


def test_crop_embeddings_match_open_clip(clip):
    image = random_image(60, 80)
    boxes = torch.tensor([[10.0, 10.0, 30.0, 40.0], [0.0, 0.0, 80.0, 60.0]])
    ours = clip.encode_crops(image, boxes)
    crops = clip._crops(image, boxes)
    reference = F.normalize(clip.clip.encode_image(crops), dim=-1)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(2))


def test_global_at_native_size_equals_the_plain_forward(clip):
    image = random_image(32, 32)  # the model's input size: no interpolation, no resampling
    whole = torch.tensor([[0.0, 0.0, 32.0, 32.0]])
    torch.testing.assert_close(clip.encode_global(image), clip.encode_crops(image, whole)[0], rtol=0, atol=1e-6)
    assert clip.encode_global(random_image(60, 90)).shape == (clip.embed_dim,)


def test_zero_bias_object_token_equals_class_token_at_half_stride(clip):
    """With no bias the object token attends to the same set as CLS, so it stays a copy of it."""
    image = random_image(64, 96, seed=1)
    boxes = torch.tensor([[5.0, 6.0, 20.0, 30.0], [40.0, 10.0, 90.0, 60.0], [0.0, 50.0, 8.0, 64.0]])
    clip.mask_bias = 0.0
    objects = clip.encode_objects(image, boxes)
    squares, _ = clip.object_crops(image, boxes)
    cls_half_stride = clip.encode_crops(image, squares, stride=clip.object_stride)
    torch.testing.assert_close(objects, cls_half_stride, rtol=0, atol=1e-5)
    # ...and the bias matters: with -100 the embeddings move away from the crop's CLS.
    clip.mask_bias = -100.0
    assert (clip.encode_objects(image, boxes) - cls_half_stride).abs().max() > 1e-2


def test_object_token_is_a_copy_of_cls_at_every_layer_without_bias(clip):
    from densekd.ovd.clip_teacher import _block_with_bias

    image = random_image(48, 48)
    boxes = torch.tensor([[10.0, 10.0, 30.0, 20.0]])
    squares, outside = clip.object_crops(image, boxes)
    x = clip._tokens(clip._crops(image, squares), clip.object_stride)
    x = torch.cat([x, x[:, :1]], dim=1)
    clip.mask_bias = 0.0
    bias = clip._object_attention_bias(outside, x.dtype)
    for block in clip.visual.transformer.resblocks:
        x = _block_with_bias(block, x, bias)
        torch.testing.assert_close(x[:, -1], x[:, 0], rtol=0, atol=1e-5)


def test_box_filling_its_crop_ignores_the_bias(clip):
    image = random_image(64, 64)
    box = torch.tensor([[8.0, 8.0, 40.0, 40.0]])  # a square already at the clamp: crop == box
    clip.expand_ratio = 1.0
    try:
        squares, outside = clip.object_crops(image, box)
        assert not outside.any()
        biased = clip.encode_objects(image, box)
        clip.mask_bias = 0.0
        torch.testing.assert_close(biased, clip.encode_objects(image, box), rtol=0, atol=1e-6)
    finally:
        clip.expand_ratio = 8.0


def test_batched_objects_equal_one_at_a_time(clip):
    image = random_image(70, 50)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 30.0, 49.0, 69.0], [5.0, 40.0, 15.0, 44.0]])
    together = clip.encode_objects(image, boxes)
    clip.batch_size = 1
    one_by_one = clip.encode_objects(image, boxes)
    torch.testing.assert_close(together, one_by_one, rtol=0, atol=1e-5)


def test_expansion_sides_and_clamping():
    boxes = torch.tensor([
        [40.0, 40.0, 60.0, 60.0],  # free: side sqrt(8 * 400) = 56.57, centred
        [10.0, 50.0, 90.0, 52.0],  # thin: sqrt(8 * 160) = 35.8 < 80 -> side 80 so the box fits
        [0.0, 0.0, 90.0, 60.0],  # large: sqrt(8 * 5400) = 208 -> min(W, H) = 80
        [90.0, 70.0, 100.0, 80.0],  # bottom-right corner: shifted back inside
    ])
    squares = expand_boxes(boxes, height=80, width=100)
    side = 8 ** 0.5 * 20
    torch.testing.assert_close(squares[0], torch.tensor([50 - side / 2, 50 - side / 2, 50 + side / 2, 50 + side / 2]))
    torch.testing.assert_close(squares[1], torch.tensor([10.0, 0.0, 90.0, 80.0]))  # centre y 51 shifted up
    torch.testing.assert_close(squares[2], torch.tensor([5.0, 0.0, 85.0, 80.0]))
    corner = 8 ** 0.5 * 10
    torch.testing.assert_close(squares[3], torch.tensor([100 - corner, 80 - corner, 100.0, 80.0]))
    sides = squares[:, 2:] - squares[:, :2]
    torch.testing.assert_close(sides[:, 0], sides[:, 1])
    assert (squares[:, :2] >= 0).all() and (squares[:, 2] <= 100).all() and (squares[:, 3] <= 80).all()


def test_masks_for_boxes_at_image_edges():
    """4x4 tokens over each square; True marks tokens outside the proposal."""
    boxes = torch.tensor([[90.0, 70.0, 100.0, 80.0], [0.0, 0.0, 10.0, 10.0]])
    squares = expand_boxes(boxes, height=80, width=100)
    outside = object_token_masks(boxes, squares, grid=4).view(2, 4, 4)
    # square side 28.28; token centres at 3.5, 10.6, 17.7, 24.7 from its corner -> the box (last
    # 10 px) holds only the last token column/row, and the top-left box only the first.
    expected = torch.ones(4, 4, dtype=torch.bool)
    expected[3, 3] = False
    assert torch.equal(outside[0], expected)
    assert torch.equal(outside[1], expected.flip(0, 1))


def test_mask_of_a_box_smaller_than_a_token_keeps_its_nearest_token():
    boxes = torch.tensor([[50.0, 50.0, 50.5, 50.5]])
    squares = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    outside = object_token_masks(boxes, squares, grid=4).view(4, 4)
    assert (~outside).sum() == 1 and not outside[2, 2]


def test_block_grid_of_a_640x480_image():
    boxes = block_boxes(480, 640)
    assert len(boxes) == 27  # 1 + 5 x 4 at full scale + 3 x 2 at 1/1.5
    torch.testing.assert_close(boxes[0], torch.tensor([80.0, 0.0, 560.0, 480.0]))  # centred, not (80, 0, 480, 480)
    torch.testing.assert_close(block_boxes(640, 480)[0], torch.tensor([0.0, 80.0, 480.0, 560.0]))
    full = boxes[1:21]
    assert torch.allclose(full[:, 2] - full[:, 0], torch.tensor(224.0))
    assert full[:, 0].min() == 0 and full[:, 2].max() == 640 and full[:, 3].max() == 480
    shrunk = boxes[21:]  # windows of the 426x320 image, mapped back: 224 * 640 / 426 wide
    torch.testing.assert_close(shrunk[:, 2] - shrunk[:, 0], torch.full((6,), 224 * 640 / 426))
    assert len(block_boxes(200, 300)) == 1  # smaller than a block: only the centre square


def test_sliding_positions_are_even_and_cover_the_length():
    assert sliding_positions(640, 224, 112) == [0, 104, 208, 312, 416]
    assert sliding_positions(224, 224, 112) == [0]
    assert sliding_positions(200, 224, 112) == []
    steps = torch.diff(torch.tensor(sliding_positions(1000, 224, 112)))
    assert steps.max() <= 112 and steps.max() - steps.min() <= 1


def test_embed_image_filters_and_clips_proposals(clip):
    image = random_image(60, 80)
    proposals = torch.tensor([[-5.0, 10.0, 20.0, 40.0], [30.0, 30.0, 33.0, 50.0], [60.0, 40.0, 95.0, 70.0]])
    out = clip.embed_image(image, proposals, objectness=torch.tensor([0.9, 0.8, 0.7]))
    assert set(out) == set(TEACHER_FIELDS)
    torch.testing.assert_close(out["object_boxes"], torch.tensor([[0.0, 10.0, 20.0, 40.0], [60.0, 40.0, 80.0, 60.0]]))
    torch.testing.assert_close(out["objectness"], torch.tensor([0.9, 0.7]))
    assert out["objects"].shape == (2, clip.embed_dim) and out["blocks"].shape[0] == len(out["block_boxes"])
    torch.testing.assert_close(out["objects"], clip.encode_objects(image, out["object_boxes"]))


def test_clear_errors(tiny_clip_cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        ObjectAwareCLIP(**tiny_clip_cfg, pretrained=str(tmp_path / "missing.safetensors"))
    with pytest.raises(KeyError, match="ViT-B-33"):
        ObjectAwareCLIP("ViT-B-33")


def test_local_weights_file_round_trip(clip, tiny_clip_cfg, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in clip.clip.state_dict().items()}, str(path))
    config = tmp_path / "teacher.py"
    config.write_text(f"clip_teacher = dict(model_name={tiny_clip_cfg['model_name']!r}, "
                      f"model_config_file={tiny_clip_cfg['model_config_file']!r}, pretrained={str(path)!r})\n")
    loaded = ObjectAwareCLIP.from_config(str(config))
    image = random_image(40, 40)
    torch.testing.assert_close(loaded.encode_global(image), clip.encode_global(image), rtol=0, atol=0)
    assert all(not p.requires_grad for p in loaded.parameters())
    loaded.train()
    assert not loaded.clip.training

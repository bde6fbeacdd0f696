"""tools/extract_clip_features.py: cache contents, agreement with the online teacher, resume."""
import os

import pytest
import torch

from conftest import load_tool
from densekd.ovd.clip_teacher import TEACHER_FIELDS
from densekd.ovd.feature_store import FeatureStore, write_store
from densekd.ovd.teacher_features import CachedTeacherFeatures, OnlineTeacherFeatures, split_images


def random_proposals(device, count=12):
    """A stand-in for the RPN: ``count`` random boxes per 160 px image, some tiny, with objectness."""
    def proposals(image_id):
        g = torch.Generator().manual_seed(image_id)
        xy = torch.rand(count, 2, generator=g) * 140
        wh = torch.rand(count, 2, generator=g) * 60 + 1  # 1-61 px: a few fall under the 4 px limit
        return {"boxes": torch.cat([xy, xy + wh], dim=1), "objectness": torch.rand(count, generator=g)}
    return proposals


@pytest.fixture(scope="module")
def extraction(shapes_root, tiny_clip_cfg, tmp_path_factory):
    """A proposal store and an extraction config over the tiny shapes set's train split."""
    tmp = tmp_path_factory.mktemp("clip_features")
    ann = os.path.join(shapes_root, "annotations", "instances_train.json")
    prefix = os.path.join(shapes_root, "train") + os.sep
    image_ids = sorted(split_images(ann, prefix))
    write_store(str(tmp / "proposals"), image_ids, random_proposals, metadata={"kind": "proposals"}, shard_size=4)
    config = tmp / "features.py"
    config.write_text(
        f"clip_teacher = dict(model_name={tiny_clip_cfg['model_name']!r}, "
        f"model_config_file={tiny_clip_cfg['model_config_file']!r})\n"
        f"clip_features = dict(splits=dict(train=dict(ann_file={ann!r}, img_prefix={prefix!r}, "
        f"proposals={str(tmp / 'proposals')!r}, out={str(tmp / 'features')!r})), "
        "max_proposals=10, dtype='float16', shard_size=3)\n")
    return dict(config=str(config), out=str(tmp / "features"), proposals=str(tmp / "proposals"),
                ann=ann, prefix=prefix, image_ids=image_ids)


def extract(extraction, *extra):
    torch.manual_seed(0)  # the tiny teacher has random weights: same seed, same teacher
    return load_tool("extract_clip_features").main([extraction["config"], "--split", "train", *extra])


def test_cache_holds_every_image_with_its_targets(extraction, capsys):
    summary = extract(extraction)
    assert "CLIP features, split train: 8 images (8 new) in 3 shards" in capsys.readouterr().out
    store = FeatureStore(extraction["out"])
    assert sorted(store.image_ids()) == extraction["image_ids"]
    proposals = FeatureStore(extraction["proposals"])
    for image_id in extraction["image_ids"]:
        f = store.get(image_id)
        assert set(f) == set(TEACHER_FIELDS)
        assert f["objects"].dtype == torch.float16 and f["object_boxes"].dtype == torch.float32
        assert f["global"].shape == (32,) and f["blocks"].shape == (len(f["block_boxes"]), 32)
        # the 10 best proposals by objectness, minus those under 4 px, in objectness order
        p = proposals.get(image_id)
        best = p["objectness"].argsort(descending=True)[:10]
        wh = p["boxes"][best, 2:].clamp(max=160) - p["boxes"][best, :2]
        kept = best[(wh >= 4).all(dim=1)]
        torch.testing.assert_close(f["objectness"], p["objectness"][kept])
        assert len(f["objects"]) == len(kept) < 12
        torch.testing.assert_close(f["objects"].float().norm(dim=-1), torch.ones(len(kept)), atol=2e-3, rtol=0)
    assert summary["bytes"] == sum(os.path.getsize(os.path.join(extraction["out"], n))
                                   for n in os.listdir(extraction["out"]) if n.endswith(".safetensors"))


def test_online_teacher_agrees_with_the_cache(extraction, tiny_clip_cfg):
    extract(extraction)
    cached = CachedTeacherFeatures(extraction["out"])
    torch.manual_seed(0)
    online = OnlineTeacherFeatures(tiny_clip_cfg, extraction["proposals"], max_proposals=10)
    images = split_images(extraction["ann"], extraction["prefix"])
    for image_id in extraction["image_ids"][:3]:
        a, b = cached(image_id), online(image_id, images[image_id])
        for field in TEACHER_FIELDS:
            torch.testing.assert_close(a[field], b[field], atol=1e-3, rtol=0)  # float16 storage


def test_rerun_resumes_and_recomputes_only_what_is_missing(extraction, capsys):
    extract(extraction)
    before = {i: FeatureStore(extraction["out"]).get(i) for i in extraction["image_ids"]}
    shards = sorted(n for n in os.listdir(extraction["out"]) if n.endswith(".safetensors"))
    os.remove(os.path.join(extraction["out"], shards[-1]))  # as if killed before the last shard
    capsys.readouterr()
    summary = extract(extraction)
    assert summary["new_images"] == 2  # 8 images in shards of 3: the last holds 2
    after = FeatureStore(extraction["out"])
    for image_id, features in before.items():
        for field, value in features.items():
            assert torch.equal(after.get(image_id)[field], value)
    assert extract(extraction)["new_images"] == 0


def test_other_teacher_settings_refuse_the_old_cache(extraction):
    extract(extraction)
    with pytest.raises(Exception, match="overwrite"):
        extract(extraction, "--cfg-options", "+clip_teacher.mask_bias=-50.0")  # a key the config lacks: added on purpose


def test_missing_proposals_name_the_command(extraction, tmp_path):
    with pytest.raises(FileNotFoundError, match="generate_proposals.py"):
        extract(extraction, "--cfg-options", f"clip_features.splits.train.proposals={tmp_path / 'none'}")

"""The sharded safetensors feature store: round trip, resume, corruption, mismatches, devices."""
import functools
import os
import pickle

import pytest
import torch

from densekd.ovd.feature_store import FeatureStore, shard_name, write_store

IDS = [7, 3, 11, 42, 5, 8, 13, 21, 34, 1]  # 10 images; shard_size 4 -> 3 shards (4, 4, 2)
META = {"kind": "test", "topk": "4"}


def fake_features(image_id):
    """Deterministic tensors of one image: ``image_id % 4`` boxes (possibly none) and scores."""
    gen = torch.Generator().manual_seed(image_id)
    n = image_id % 4
    return {"boxes": torch.rand(n, 4, generator=gen) * 100, "scores": torch.rand(n, generator=gen).half()}


class WorkerFailed(Exception):
    pass


def build_fake_worker(device, calls=None, fail_at=None):
    """A worker builder (top level, so spawned processes can unpickle it); counts calls in ``calls``."""
    assert isinstance(device, torch.device)

    def compute(image_id):
        if image_id == fail_at:
            raise WorkerFailed(f"simulated failure at image {image_id}")
        if calls is not None:
            calls.append(image_id)
        return fake_features(image_id)

    return compute


def shard_files(root):
    return sorted(n for n in os.listdir(root) if n.endswith(".safetensors"))


def write(root, calls=None, **kwargs):
    options = dict(metadata=META, shard_size=4)
    options.update(kwargs)
    return write_store(str(root), IDS, functools.partial(build_fake_worker, calls=calls), **options)


def assert_store_holds_fake_features(root, ids=IDS):
    store = FeatureStore(str(root))
    assert len(store) == len(ids) and store.image_ids() == ids
    for image_id in ids:
        got, want = store.get(image_id), fake_features(image_id)
        assert set(got) == set(want)
        for field in want:
            assert got[field].dtype == want[field].dtype
            assert torch.equal(got[field], want[field])


def test_round_trip(tmp_path):
    calls = []
    summary = write(tmp_path, calls)
    assert calls == IDS
    assert shard_files(tmp_path) == [shard_name(k, 3) for k in range(3)]
    assert_store_holds_fake_features(tmp_path)
    store = FeatureStore(str(tmp_path))
    assert store.metadata == META and store.complete
    assert 42 in store and 99 not in store
    assert store.get(8)["boxes"].shape == (0, 4)  # images without objects round-trip too
    with pytest.raises(KeyError, match="not in the store"):
        store.get(99)
    copy = pickle.loads(pickle.dumps(store))  # an opened store can go to worker processes
    assert torch.equal(copy.get(42)["boxes"], store.get(42)["boxes"])
    rows = sum(i % 4 for i in IDS)
    assert summary["images"] == 10 and summary["new_images"] == 10 and summary["shards"] == 3
    assert summary["fields"]["boxes"] == dict(dtype="float32", rows=rows, numel=4 * rows)
    assert summary["fields"]["scores"]["dtype"] == "float16"
    assert summary["bytes"] == sum(os.path.getsize(tmp_path / n) for n in shard_files(tmp_path))


def test_rerun_of_a_finished_store_computes_nothing(tmp_path):
    write(tmp_path)
    before = {n: (tmp_path / n).read_bytes() for n in shard_files(tmp_path)}
    calls = []
    summary = write(tmp_path, calls)
    assert calls == [] and summary["new_images"] == 0 and summary["images"] == 10
    assert {n: (tmp_path / n).read_bytes() for n in shard_files(tmp_path)} == before


def test_resume_after_interruption_computes_only_the_missing_images(tmp_path):
    with pytest.raises(WorkerFailed):
        write_store(str(tmp_path), IDS, functools.partial(build_fake_worker, fail_at=IDS[5]),
                    metadata=META, shard_size=4)
    assert shard_files(tmp_path) == [shard_name(0, 3)]  # the finished shard is kept, no partial one
    partial = FeatureStore(str(tmp_path))
    assert len(partial) == 4 and not partial.complete and partial.image_ids() == IDS[:4]
    with pytest.raises(KeyError, match="partial"):
        partial.get(IDS[5])
    calls = []
    summary = write(tmp_path, calls)
    assert calls == IDS[4:]
    assert summary["new_images"] == 6 and summary["new_shards"] == 2
    assert_store_holds_fake_features(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_shard_is_recomputed(tmp_path, damage):
    write(tmp_path)
    reference = (tmp_path / shard_name(1, 3)).read_bytes()
    path = tmp_path / shard_name(1, 3)
    path.write_bytes(reference[:-10] if damage == "truncate" else b"\x00" * 40)
    with pytest.raises(OSError, match="unreadable"):
        FeatureStore(str(tmp_path)).get(IDS[4])
    calls = []
    with pytest.warns(UserWarning, match="unreadable"):
        write(tmp_path, calls)
    assert calls == IDS[4:8]
    assert path.read_bytes() == reference
    assert_store_holds_fake_features(tmp_path)


def test_metadata_mismatch_is_an_error_unless_overwrite(tmp_path):
    write(tmp_path)
    with pytest.raises(ValueError, match=r"other metadata \(topk: '4' -> '5'\).*--overwrite.*--out"):
        write(tmp_path, metadata=dict(META, topk="5"))
    calls = []
    summary = write(tmp_path, calls, metadata=dict(META, topk="5"), overwrite=True)
    assert calls == IDS and summary["new_images"] == 10
    assert FeatureStore(str(tmp_path)).metadata["topk"] == "5"


def test_shard_metadata_is_checked_even_without_store_json(tmp_path):
    write(tmp_path)
    os.remove(tmp_path / "store.json")
    with pytest.raises(ValueError, match="other metadata"):
        write(tmp_path, metadata=dict(META, topk="5"))


def test_changed_shard_size_or_image_list_is_detected(tmp_path):
    write(tmp_path)
    with pytest.raises(ValueError, match="shard_size 4, now 5"):
        write(tmp_path, shard_size=5)
    with pytest.raises(ValueError, match="another image list"):
        write_store(str(tmp_path), IDS[:-1], build_fake_worker, metadata=META, shard_size=4)
    os.remove(tmp_path / "store.json")  # still caught from the shards themselves
    with pytest.raises(ValueError, match="image list or shard size changed"):
        write(tmp_path, shard_size=5)


def test_bad_worker_output_and_arguments_say_what_was_wrong(tmp_path):
    def non_tensor(device):
        return lambda image_id: {"boxes": [1, 2, 3, 4]}

    def changing_fields(device):
        return lambda image_id: {"boxes": torch.zeros(1, 4)} if image_id != IDS[2] else {"x": torch.zeros(1)}

    with pytest.raises(TypeError, match="field 'boxes' of image 7 is a list"):
        write_store(str(tmp_path / "a"), IDS, non_tensor, metadata=META)
    with pytest.raises(ValueError, match="image 11 has fields \\['x'\\], but .* have \\['boxes'\\]"):
        write_store(str(tmp_path / "b"), IDS, changing_fields, metadata=META)
    with pytest.raises(TypeError, match="metadata must map str to str, got 'topk': 4"):
        write_store(str(tmp_path / "c"), IDS, build_fake_worker, metadata={"topk": 4})
    with pytest.raises(ValueError, match="image ids repeat: \\[7\\]"):
        write_store(str(tmp_path / "d"), IDS + [7], build_fake_worker, metadata=META)
    with pytest.raises(TypeError, match="build_worker must be picklable"):
        write_store(str(tmp_path / "e"), IDS, lambda device: fake_features, metadata=META, devices=2,
                    shard_size=4)
    with pytest.raises(FileNotFoundError, match="no feature store at"):
        FeatureStore(str(tmp_path / "nothing"))


def test_two_cpu_workers_write_the_same_store_as_one(tmp_path):
    one = write(tmp_path / "one")
    two = write(tmp_path / "two", devices=2)
    assert two["new_images"] == 10
    names = shard_files(tmp_path / "one")
    assert names == shard_files(tmp_path / "two")
    for name in names:  # shards are byte-identical whichever process wrote them
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert one["bytes"] == two["bytes"] and one["fields"] == two["fields"]
    assert_store_holds_fake_features(tmp_path / "two")


def test_a_failing_spawned_worker_keeps_finished_shards(tmp_path):
    message = "worker . failed: .*simulated failure at image 13. Finished shards are kept"
    with pytest.raises(RuntimeError, match=message):
        write_store(str(tmp_path), IDS, functools.partial(build_fake_worker, fail_at=13),
                    metadata=META, shard_size=4, devices=2)
    assert shard_name(1, 3) not in shard_files(tmp_path)  # the failed shard left nothing behind
    missing = [k for k in range(3) if shard_name(k, 3) not in shard_files(tmp_path)]
    calls = []
    write(tmp_path, calls)
    assert calls == [i for k in missing for i in IDS[4 * k:4 * k + 4]]
    assert_store_holds_fake_features(tmp_path)

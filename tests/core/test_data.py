import itertools

import pytest

from densekd.core.data import DataModule, InfiniteSampler
from densekd.core.config import load_config


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_sampler_resumes_where_it_stopped():
    full = take(InfiniteSampler(5, seed=3), 12)
    assert take(InfiniteSampler(5, seed=3, start=7), 5) == full[7:]
    # every pass over the data is a permutation of it
    assert sorted(i for i, _ in full[:5]) == [0, 1, 2, 3, 4]
    assert sorted(i for i, _ in full[5:10]) == [0, 1, 2, 3, 4]


def test_sampler_ranks_split_the_stream():
    stream = take(InfiniteSampler(6, seed=1), 12)
    rank0 = take(InfiniteSampler(6, seed=1, rank=0, world_size=2), 6)
    rank1 = take(InfiniteSampler(6, seed=1, rank=1, world_size=2), 6)
    assert rank0 == stream[0::2] and rank1 == stream[1::2]


def test_missing_dataset_root_names_the_tool_that_makes_it():
    cfg = load_config("configs/demo/faster_rcnn_student_shapes.py",
                      {"train_dataloader.dataset.data_root": "/nonexistent/shapes/"})
    with pytest.raises(FileNotFoundError, match="/nonexistent/shapes/") as err:
        DataModule(cfg)
    assert "python tools/make_demo_data.py --out data/shapes" in str(err.value)


def test_missing_files_are_found_through_wrappers_and_the_gt_database(tmp_path):
    from densekd.core.data import check_data_root

    (tmp_path / "kitti_infos_train.json").write_text("{}")
    inner = dict(data_root=str(tmp_path), ann_file="kitti_infos_train.json",
                 pipeline=[dict(type="ObjectSample", db_sampler=dict(info_path=str(tmp_path / "dbinfos.json")))])
    with pytest.raises(FileNotFoundError, match="dbinfos.json.*Prepare it with: python tools/prepare_kitti.py"):
        check_data_root(dict(type="RepeatDataset", times=2, dataset=inner), "python tools/prepare_kitti.py")
    (tmp_path / "dbinfos.json").write_text("{}")
    check_data_root(dict(type="RepeatDataset", times=2, dataset=inner))  # all there now
    with pytest.raises(FileNotFoundError, match="missing.json"):
        check_data_root(dict(type="ConcatDataset", datasets=[inner, {**inner, "ann_file": "missing.json"}]))

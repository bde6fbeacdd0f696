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


@pytest.mark.parametrize("config, command", [
    ("configs/demo/faster_rcnn_student_shapes.py", "python tools/make_demo_data.py --out data/shapes"),
    ("configs/demo/pointpillars_student_lidar.py", "python tools/make_demo_data.py --dataset kitti"),
])
@pytest.mark.usefixtures("restore_scope")  # the LiDAR config switches to mmdet3d
def test_demo_data_without_its_report_split_fails_in_one_line_naming_the_command(config, command, tmp_path):
    """Demo data made before there was a test split: tools/test.py stops before building a model, in one line
    naming the missing path and the command that adds the split."""
    from conftest import as_made_before_the_test_split, load_tool
    from densekd.data import make_shapes_coco

    root = tmp_path / "old"
    if "shapes" in config:
        make_shapes_coco(root, num_train=1, num_val=1, num_test=1, image_size=32)
        as_made_before_the_test_split(root, "shapes_meta.json",
                                      [root / "test", root / "annotations" / "instances_test.json"])
        missing = root / "annotations" / "instances_test.json"
    else:  # a prepared KITTI-layout root without kitti_infos_test.json
        (root / "training" / "velodyne_reduced").mkdir(parents=True)
        missing = root / "kitti_infos_test.json"
    options = [f"test_dataloader.dataset.data_root={root}/", f"test_evaluator.ann_file={missing}"]
    with pytest.raises(FileNotFoundError) as err:
        load_tool("test").main([config, str(tmp_path / "never_read.ckpt"), "--work-dir", str(tmp_path / "work"),
                                "--cfg-options", *options])
    message = str(err.value)
    assert "\n" not in message and str(missing) in message and "is there, but not its test split" in message
    assert message.endswith(f"Prepare it with: {command}")

"""GT sampling ("copy-paste" of database objects) from densekd's JSON ground-truth database.

mmdet3d's ``DataBaseSampler`` reads its index with ``mmengine.load(..., file_format='pkl')`` whatever
the file is called; densekd writes ``kitti_dbinfos_train.json`` (no pickle for data we write), so
KITTI configs name ``db_sampler=dict(type='JsonDataBaseSampler', info_path=.../kitti_dbinfos_train.json, ...)``.
"""
import json

import numpy as np
from mmdet3d.datasets.transforms.dbsampler import BatchSampler, DataBaseSampler
from mmengine.registry import TRANSFORMS

__all__ = ["load_db_infos", "JsonDataBaseSampler"]


def load_db_infos(path, classes=()):
    """kitti_dbinfos_train.json -> {class: [entry]} with box3d_lidar as float32 (7,) arrays, as mmdet3d's
    pickle holds them; every class in ``classes`` gets a (possibly empty) list."""
    with open(path) as f:
        db_infos = json.load(f)
    for entries in db_infos.values():
        for entry in entries:
            entry["box3d_lidar"] = np.asarray(entry["box3d_lidar"], dtype=np.float32)
    for name in classes:
        db_infos.setdefault(name, [])
    return db_infos


@TRANSFORMS.register_module()
class JsonDataBaseSampler(DataBaseSampler):
    """mmdet3d's DataBaseSampler with the database index read from JSON; arguments as DataBaseSampler's.

    A sampled class with no database entry (possible in small datasets) is skipped instead of
    failing in ``np.stack``.
    """

    def __init__(self, info_path, data_root, rate, prepare, sample_groups, classes=None,
                 points_loader=dict(type="LoadPointsFromFile", coord_type="LIDAR", load_dim=4,
                                    use_dim=[0, 1, 2, 3], backend_args=None),
                 backend_args=None):
        # DataBaseSampler.__init__ would read info_path as pickle: set up its state here instead.
        from mmdet3d.registry import TRANSFORMS as MMDET3D_TRANSFORMS

        self.data_root, self.info_path, self.rate, self.prepare = data_root, info_path, rate, prepare
        self.classes = list(classes or sample_groups)
        self.cat2label = {name: i for i, name in enumerate(self.classes)}
        self.label2cat = {i: name for i, name in enumerate(self.classes)}
        self.points_loader = MMDET3D_TRANSFORMS.build(points_loader)
        self.backend_args = backend_args
        db_infos = load_db_infos(info_path, classes=self.classes)
        for method, value in prepare.items():
            db_infos = getattr(self, method)(db_infos, value)
        self.db_infos = self.group_db_infos = db_infos
        groups = {name: int(num) for name, num in sample_groups.items() if db_infos.get(name)}
        self.sample_groups = [{name: num} for name, num in groups.items()]
        self.sample_classes, self.sample_max_nums = list(groups), list(groups.values())
        self.sampler_dict = {name: BatchSampler(entries, name, shuffle=True) for name, entries in db_infos.items()}

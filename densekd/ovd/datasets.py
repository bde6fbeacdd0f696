"""OVLVISDataset: an LVIS v1 (or OV-LVIS) detection dataset whose class names come from its annotation file.

mmdet's ``LVISV1Dataset`` names labels with its hard-coded list of the 1203 LVIS classes in LVIS's
original id order, while it numbers labels by the file's category ids. On the OV-LVIS files of
``tools/prepare_ov_coco.py --dataset lvis`` (ids remapped base-first; the train file has only the 866
base categories) label k would be named after the wrong class, and the train file would still claim
1203 classes. It also needs the ``lvis`` package (lvis-api), which does not run with numpy 2.

This dataset reads the annotation file with pycocotools, takes ``metainfo['classes']`` from its
categories in id order (label k = the k-th category by id) and finds each image under
``data_prefix['img']`` from its ``coco_url`` (``val2017/000000397133.jpg``) or ``file_name``.
Register it with ``custom_imports = dict(imports=['densekd.ovd.datasets'])``.
"""
import copy

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from ..core.errors import InvalidValue, UnknownKey

COCO_IMAGE_URL = "http://images.cocodataset.org/"


def lvis_image_file(image):
    """An LVIS image's path relative to the COCO image root: ``coco_url`` without its host, else ``file_name``."""
    if "coco_url" in image:
        return image["coco_url"].replace(COCO_IMAGE_URL, "")
    if "file_name" in image:
        return image["file_name"]
    raise UnknownKey(f"LVIS image {image.get('id')} has neither 'coco_url' nor 'file_name': {sorted(image)}")


@DATASETS.register_module()
class OVLVISDataset(CocoDataset):
    """LVIS-format detection dataset; ``metainfo['classes']`` = the file's category names in id order."""

    METAINFO = dict(classes=(), palette=None)

    def load_data_list(self):
        """One data info per image (CocoDataset's), the classes set from the file's categories."""
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            self.coco = self.COCOAPI(local_path)
        categories = [self.coco.cats[k] for k in sorted(self.coco.cats)]
        names = tuple(c["name"] for c in categories)
        given = self._metainfo.get("classes")
        if given and tuple(given) != names:
            raise InvalidValue(f"OVLVISDataset metainfo classes ({len(given)}, starting {tuple(given)[:3]}) are not "
                               f"the {len(names)} categories of {self.ann_file} in id order (starting {names[:3]}); "
                               "leave metainfo classes out: they are read from the file.")
        self._metainfo["classes"] = names
        self.cat_ids = [c["id"] for c in categories]
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map = copy.deepcopy(self.coco.cat_img_map)
        data_list = []
        for img_id in self.coco.get_img_ids():
            raw_img_info = dict(self.coco.load_imgs([img_id])[0], img_id=img_id)
            raw_img_info["file_name"] = lvis_image_file(raw_img_info)
            raw_ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
            data_list.append(self.parse_data_info(dict(raw_ann_info=raw_ann_info, raw_img_info=raw_img_info)))
        del self.coco
        return data_list

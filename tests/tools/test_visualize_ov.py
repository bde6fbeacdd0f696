"""Detection pictures (densekd/ovd/visualize.py, tools/visualize.py --mode det): base / novel colouring, which colour a box gets, and where the novel names come from."""
import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from PIL import Image

from densekd.ovd import visualize


CLASSES = ("apple", "bowl", "cat", "dog")
NOVEL = ("cat", "dog")


def test_base_label_gets_the_base_colour_and_novel_label_the_novel_colour():
    assert visualize.box_colour(0, CLASSES, NOVEL) == visualize.BASE_COLOUR
    assert visualize.box_colour(1, CLASSES, NOVEL) == visualize.BASE_COLOUR
    assert visualize.box_colour(2, CLASSES, NOVEL) == visualize.NOVEL_COLOUR
    assert visualize.box_colour(3, CLASSES, NOVEL) == visualize.NOVEL_COLOUR
    assert visualize.BASE_COLOUR != visualize.NOVEL_COLOUR


def test_without_novel_classes_each_class_keeps_its_own_colour():
    colours = [visualize.box_colour(k, CLASSES, None) for k in range(4)]
    assert colours == [visualize.class_colour(k, 4) for k in range(4)] and len(set(colours)) == 4


def test_novel_classes_come_from_the_test_evaluator_else_the_vocabulary():
    evaluator = dict(type="OVCocoAP50Metric", novel_classes=NOVEL)
    vocabulary = dict(model=dict(roi_head=dict(vocabulary=dict(classes=CLASSES, novel_classes=("dog",)))))
    assert visualize.config_novel_classes(Config(dict(test_evaluator=evaluator, **vocabulary))) == NOVEL
    assert visualize.config_novel_classes(Config(dict(test_evaluator=[dict(type="CocoMetric"), evaluator]))) == NOVEL
    assert visualize.config_novel_classes(Config(dict(test_evaluator=dict(type="CocoMetric"), **vocabulary))) == ("dog",)
    assert visualize.config_novel_classes(Config(dict(test_evaluator=dict(type="CocoMetric"), model=dict()))) is None


def test_boxes_are_drawn_in_their_split_colour(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (60, 40), (128, 128, 128)).save(path)
    result = type("Result", (), {})()
    result.pred_instances = InstanceData(bboxes=torch.tensor([[5.0, 5.0, 25.0, 35.0], [35.0, 5.0, 55.0, 35.0]]),
                                         labels=torch.tensor([0, 3]), scores=torch.tensor([0.9, 0.8]))
    tile = np.asarray(visualize.draw_predictions(str(path), result, CLASSES, 0.3, "t", 1, NOVEL))
    top = visualize.TITLE_HEIGHT
    assert tuple(tile[top + 30, 5]) == visualize.BASE_COLOUR  # left edge of the apple box
    assert tuple(tile[top + 30, 35]) == visualize.NOVEL_COLOUR  # left edge of the dog box

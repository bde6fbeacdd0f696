"""densekd.det3d.compat.rotated_iou against shapely polygons and closed forms, mmdet3d's own d3_box_overlap
through it, and mmdet3d's kitti_eval (Car AP40) on hand-made KITTI annotations whose expected APs are
worked out here."""
import numpy as np
import pytest
from shapely.geometry import Polygon

import densekd.det3d  # noqa: F401  (applies the patches)
from densekd.det3d.compat import rotated_iou, use_exact_rotated_iou


def box_polygon(box):
    """[x, y, dx, dy, angle] -> shapely polygon, corner offset (u, v) at (c u + s v, -s u + c v) as in mmdet3d."""
    x, y, dx, dy, angle = box
    cos, sin = np.cos(angle), np.sin(angle)
    offsets = [(-dx / 2, -dy / 2), (-dx / 2, dy / 2), (dx / 2, dy / 2), (dx / 2, -dy / 2)]
    return Polygon([(x + cos * u + sin * v, y - sin * u + cos * v) for u, v in offsets])


def shapely_overlaps(boxes, query_boxes, criterion=-1):
    """(N, 5) x (K, 5) -> (N, K) by polygon clipping, with rotate_iou_gpu_eval's criteria."""
    out = np.zeros((len(boxes), len(query_boxes)))
    for i, box in enumerate(boxes):
        for j, query in enumerate(query_boxes):
            p, q = box_polygon(box), box_polygon(query)
            inter = p.intersection(q).area
            normalised = {-1: inter / (p.area + q.area - inter), 0: inter / p.area, 1: inter / q.area, 2: inter}
            out[i, j] = normalised[criterion]
    return out


def random_pairs(count, seed=0):
    """``count`` (boxes, query_boxes) rows: random sizes and yaws, centres close enough to overlap partly."""
    rng = np.random.default_rng(seed)
    boxes = np.column_stack([rng.uniform(-30, 30, (count, 2)), rng.uniform(1, 5, (count, 2)),
                             rng.uniform(-np.pi, np.pi, count)])
    queries = boxes.copy()
    queries[:, :2] += rng.uniform(-1.5, 1.5, (count, 2))
    queries[:, 2:4] = rng.uniform(1, 5, (count, 2))
    queries[:, 4] = rng.uniform(-np.pi, np.pi, count)
    return boxes, queries


@pytest.mark.parametrize("yaw", [0.0, 0.1, 0.6, -1.2, np.pi / 2, 3.0])
def test_identical_boxes_have_iou_one(yaw):
    box = np.array([[10.0, 25.0, 3.9, 1.6, yaw]])
    assert rotated_iou(box, box)[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_random_partial_overlaps_match_shapely():
    boxes, queries = random_pairs(12)
    overlaps = rotated_iou(boxes, queries)
    assert overlaps.shape == (12, 12) and overlaps.dtype == np.float64
    expected = shapely_overlaps(boxes, queries)
    assert np.all((np.diag(expected) > 0.01) & (np.diag(expected) < 0.99))  # partial, as designed
    np.testing.assert_allclose(overlaps, expected, atol=1e-9)


@pytest.mark.parametrize("criterion", [0, 1, 2])
def test_criteria_match_shapely(criterion):
    boxes, queries = random_pairs(6, seed=1)
    queries = queries[:4]  # N != K, so a transposed result would show
    expected = shapely_overlaps(boxes, queries, criterion)
    np.testing.assert_allclose(rotated_iou(boxes, queries, criterion), expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("yaw", [0.0, 0.7, -1.2, 2.0, np.pi / 2, -2.8])
@pytest.mark.parametrize("centre", [(5.0, 20.0), (-9.0, 24.0)])
def test_angle_follows_kitti_camera_frame(yaw, centre):
    """A box moved by d along its own length axis (cos ry, -sin ry) in (x, z) has IoU (l - d) / (l + d),
    and along its width axis (sin ry, cos ry) (w - d) / (w + d). These collinear-edge pairs are where
    mmcv's box_iou_rotated fails (0.248 for yaw 2.0 at (-9, 24))."""
    length, width, shift = 3.9, 1.6, 0.8
    box = np.array([[*centre, length, width, yaw]])
    along_length = box + shift * np.array([[np.cos(yaw), -np.sin(yaw), 0, 0, 0]])
    along_width = box + shift * np.array([[np.sin(yaw), np.cos(yaw), 0, 0, 0]])
    assert rotated_iou(box, along_length)[0, 0] == pytest.approx((length - shift) / (length + shift), abs=1e-9)
    assert rotated_iou(along_width, box)[0, 0] == pytest.approx((width - shift) / (width + shift), abs=1e-9)
    if abs(np.sin(2 * yaw)) > 0.1:  # the other rotation sense turns the shift 2 * yaw off the length axis
        mirrored = box + shift * np.array([[np.cos(yaw), np.sin(yaw), 0, 0, 0]])
        assert rotated_iou(box, mirrored)[0, 0] < (length - shift) / (length + shift) - 0.01


def test_touching_and_nested_boxes():
    """A shared edge only: 0; a box inside another: IoU = small / big area, criterion 0 and 1 give 1 and the ratio."""
    yaw = 0.4
    box = np.array([[3.0, 7.0, 4.0, 2.0, yaw]])
    touching = box + 4.0 * np.array([[np.cos(yaw), -np.sin(yaw), 0, 0, 0]])
    inner = np.array([[3.0, 7.0, 2.0, 1.0, yaw + np.pi]])
    assert rotated_iou(box, touching)[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert rotated_iou(inner, box)[0, 0] == pytest.approx(0.25)
    assert rotated_iou(inner, box, criterion=0)[0, 0] == pytest.approx(1.0)
    assert rotated_iou(inner, box, criterion=1)[0, 0] == pytest.approx(0.25)
    assert rotated_iou(inner, box, criterion=2)[0, 0] == pytest.approx(2.0)


def test_disjoint_and_empty():
    far = np.array([[0.0, 0.0, 2.0, 1.0, 0.3], [50.0, 50.0, 2.0, 1.0, -0.3]])
    assert rotated_iou(far[:1], far[1:], criterion=2)[0, 0] == 0.0
    assert rotated_iou(far[:1], far[1:])[0, 0] == 0.0
    assert rotated_iou(np.zeros((0, 5)), far).shape == (0, 2)
    assert rotated_iou(far, np.zeros((0, 5))).shape == (2, 0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"query_boxes must have shape \(N, 5\).*\(3, 4\)"):
        rotated_iou(np.zeros((2, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="criterion .* got 3"):
        rotated_iou(np.zeros((2, 5)), np.zeros((3, 5)), criterion=3)


def test_d3_box_overlap_through_mmdet3d():
    """mmdet3d's own d3_box_overlap (rebound): BEV intersection x height overlap / union volume."""
    from mmdet3d.evaluation.functional.kitti_utils import eval as kitti_eval_module

    use_exact_rotated_iou()
    use_exact_rotated_iou()  # idempotent
    # camera frame [x, y, z, l, h, w, ry]; a box spans heights [y - h, y]
    gts = np.array([[2.0, 1.7, 15.0, 4.0, 1.5, 1.6, 0.4], [-3.0, 1.6, 30.0, 0.8, 1.7, 0.6, -2.0]])
    dets = np.array([[2.5, 1.2, 15.4, 3.8, 1.6, 1.7, 0.9], [-3.1, 2.0, 30.2, 0.9, 1.8, 0.7, -1.5]])
    overlaps = kitti_eval_module.d3_box_overlap(dets, gts)
    expected = np.zeros((2, 2))
    for i, det in enumerate(dets):
        for j, gt in enumerate(gts):
            bev = box_polygon(det[[0, 2, 3, 5, 6]]).intersection(box_polygon(gt[[0, 2, 3, 5, 6]])).area
            height = max(0.0, min(det[1], gt[1]) - max(det[1] - det[4], gt[1] - gt[4]))
            inter = bev * height
            expected[i, j] = inter / (np.prod(det[3:6]) + np.prod(gt[3:6]) - inter)
    assert 0.05 < expected[0, 0] < 0.95 and 0.05 < expected[1, 1] < 0.95 and expected[0, 1] == 0
    np.testing.assert_allclose(overlaps, expected, atol=1e-9)


# --- KITTI AP40 through mmdet3d's kitti_eval ---------------------------------------------------------
#
# 10 images x 8 moderate cars (not occluded or truncated, 2D boxes 50 px high > 25) = 80 valid cars,
# plus 4 cars that only "hard" counts (occluded 2 or truncated 0.4), never detected. Every detection
# has its own score. mmdet3d's AP40 (get_thresholds + get_mAP40): a score threshold is kept per recall
# sample 0, 1/40, 2/40, ... that the true positives reach (the last true positive always adds one),
# precision[k] at the k-th threshold is made non-increasing from the right, and
# AP40 = 100 * sum(precision[1:41]) / 40.

CAR_DIMS = (3.9, 1.5, 1.6)  # (l, h, w) as in mmdet3d's KITTI annotations
YAWS = [0.0, 0.3, -1.2, 2.0, 1.57, -2.8, 0.9, -0.5]
NUM_IMAGES = 10
HARD_ONLY = [dict(occluded=2), dict(occluded=2), dict(truncated=0.4), dict(truncated=0.4)]
CLASSES = ["Car", "Pedestrian", "Cyclist"]


def cars(image):
    """Image ``image``'s 8 moderate cars: 2D boxes side by side, BEV boxes 6 m apart, one yaw each."""
    return [dict(bbox=[20 + 150 * i, 150, 120 + 150 * i, 200], location=[-21 + 6 * i, 1.65, 20 + 2 * i + image],
                 rotation_y=YAWS[i]) for i in range(8)]


def hard_only_car(image):
    """A car 60 m ahead, 2D box 50 px high, too occluded or truncated for easy and moderate."""
    return dict(bbox=[10, 10, 60, 60], location=[0.0, 1.65, 60.0], rotation_y=0.2, **HARD_ONLY[image])


def kitti_anno(objects, scores=None):
    """Car dicts (bbox, location, rotation_y, occluded, truncated) -> a KITTI anno of arrays; a detection
    anno when ``scores`` is given (alpha -10: no orientation scoring)."""
    count = len(objects)
    anno = {"name": np.array(["Car"] * count),
            "truncated": np.array([obj.get("truncated", 0.0) for obj in objects]),
            "occluded": np.array([obj.get("occluded", 0) for obj in objects]),
            "alpha": np.full(count, -10.0 if scores is not None else 0.0),
            "bbox": np.array([obj["bbox"] for obj in objects], dtype=np.float64).reshape(count, 4),
            "dimensions": np.tile(CAR_DIMS, (count, 1)),
            "location": np.array([obj["location"] for obj in objects], dtype=np.float64).reshape(count, 3),
            "rotation_y": np.array([obj["rotation_y"] for obj in objects], dtype=np.float64)}
    if scores is not None:
        anno["score"] = np.asarray(scores, dtype=np.float64)
    return anno


def ground_truth():
    """The 84 ground-truth cars, one anno per image."""
    return [kitti_anno(cars(image) + ([hard_only_car(image)] if image < len(HARD_ONLY) else []))
            for image in range(NUM_IMAGES)]


def detections(move=lambda car: car, keep=lambda index: True, extra=None):
    """One detection per moderate car (``move``d, dropped where ``keep(global index)`` is False), scores
    0.95, 0.945, ... by index; ``extra``: {image: [(car dict, score)]} added detections."""
    annos = []
    for image in range(NUM_IMAGES):
        indexed = [(8 * image + i, move(dict(car))) for i, car in enumerate(cars(image))]
        kept = [(car, 0.95 - 0.005 * index) for index, car in indexed if keep(index)]
        kept += (extra or {}).get(image, [])
        annos.append(kitti_anno([car for car, _ in kept], [score for _, score in kept]))
    return annos


def car_ap40(dets):
    """kitti_eval(ground_truth(), dets) -> {'<2D|BEV|3D>_<difficulty>_<strict|loose>': Car AP40}."""
    from mmdet3d.evaluation.functional.kitti_utils import kitti_eval

    _, results = kitti_eval(ground_truth(), dets, CLASSES, eval_types=["bbox", "bev", "3d"])
    prefix = "KITTI/Car_"
    return {key[len(prefix):].replace("_AP40", ""): value for key, value in results.items()
            if key.startswith(prefix) and "_AP40_" in key}


def shift_up(car, dy=0.3):
    """The car raised by ``dy`` m: same BEV box, height overlap 1.2 of 1.5 -> 3D IoU 1.2 / 1.8 = 0.667."""
    car["location"] = [car["location"][0], car["location"][1] - dy, car["location"][2]]
    return car


def shift_along_length(car, d=0.8):
    """The car moved ``d`` m along its length axis (cos ry, -sin ry) in (x, z): IoU (l - d) / (l + d) = 0.66."""
    x, y, z = car["location"]
    ry = car["rotation_y"]
    car["location"] = [x + d * np.cos(ry), y, z - d * np.sin(ry)]
    return car


def test_perfect_detections():
    """80 of 80 moderate cars found with precision 1 -> 41 thresholds -> 100. Hard also counts the 4
    undetected cars: recall tops at 80 / 84 = 0.952, samples 0..38/40 reached -> 38 / 40 = 95."""
    ap = car_ap40(detections())
    for metric in ("2D", "BEV", "3D"):
        assert ap[f"{metric}_easy_strict"] == pytest.approx(100.0)
        assert ap[f"{metric}_moderate_strict"] == pytest.approx(100.0)
        assert ap[f"{metric}_hard_strict"] == pytest.approx(95.0)


def test_detections_raised_fail_3d_only():
    """3D IoU 0.667: below Car's strict 0.7 (AP 0), above the loose 0.5 (AP 100); BEV and 2D untouched."""
    ap = car_ap40(detections(move=shift_up))
    assert ap["3D_moderate_strict"] == pytest.approx(0.0)
    assert ap["3D_moderate_loose"] == pytest.approx(100.0)
    assert ap["BEV_moderate_strict"] == pytest.approx(100.0)
    assert ap["2D_moderate_strict"] == pytest.approx(100.0)


def test_detections_moved_along_heading_fail_bev_strict():
    """BEV and 3D IoU (3.9 - 0.8) / (3.9 + 0.8) = 0.66 for every yaw: strict 0, loose 100 — this only holds
    if rotated_iou turns boxes the KITTI way (mmcv's default convention would give < 0.5 for most yaws)."""
    ap = car_ap40(detections(move=shift_along_length))
    for metric in ("BEV", "3D"):
        assert ap[f"{metric}_moderate_strict"] == pytest.approx(0.0)
        assert ap[f"{metric}_moderate_loose"] == pytest.approx(100.0)


def test_half_of_the_cars_missed():
    """40 of 80 found: 21 thresholds (recall 1/80, then 2/40 ... 40/80 = 20/40) of precision 1 -> 50."""
    ap = car_ap40(detections(keep=lambda index: index % 2 == 0))
    for metric in ("2D", "BEV", "3D"):
        assert ap[f"{metric}_moderate_strict"] == pytest.approx(50.0)


def test_false_positive_above_all_true_positives():
    """A detection scored 0.99 far from every car counts at every threshold: the k-th threshold keeps
    n_k true positives (1, 2, 4, ..., 80) and 1 false positive; made non-increasing from the right,
    every precision is the last one, 80 / 81 -> AP40 = 100 * 80 / 81."""
    ghost = dict(bbox=[1300, 150, 1400, 200], location=[0.0, 1.65, 45.0], rotation_y=0.0)
    ap = car_ap40(detections(extra={0: [(ghost, 0.99)]}))
    for metric in ("2D", "BEV", "3D"):
        assert ap[f"{metric}_moderate_strict"] == pytest.approx(100 * 80 / 81)

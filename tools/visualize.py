"""Draw models' predictions into one PNG grid: detections (det), segmentation maps (seg), ACAM masks (masks), LiDAR
(bev), PointDistiller's local graphs (graph).

    python tools/visualize.py [--mode det] --model teacher CONFIG CKPT [--model student CONFIG CKPT ...] \
        --images IMG [IMG ...] --out predictions.png [--score-thr 0.3] [--scale 2]
    python tools/visualize.py --mode seg --model teacher CONFIG CKPT [--model student CONFIG CKPT ...] \
        --images IMG [IMG ...] --out seg.png [--scale 2] [--cfg-options k=v ...]
    python tools/visualize.py --mode masks --config ACAM_CONFIG --checkpoint CKPT \
        --images IMG [IMG ...] --out masks.png [--scale 2] [--per-row 5] [--pair 0] [--level 0] [--stretch] \
        [--cfg-options teacher.checkpoint=TEACHER_CKPT ...]
    python tools/visualize.py --mode bev --model teacher CONFIG CKPT [--model student CONFIG CKPT ...] \
        --scenes KITTI_ROOT/training/velodyne_reduced/NNNNNN.bin [...] --out bev.png [--score-thr 0.3] [--scale 8]
    python tools/visualize.py --mode graph --config POINTDISTILLER_CONFIG --scenes SCAN.bin [...] --out graph.png \
        [--cfg-options teacher.checkpoint=TEACHER_CKPT ...]

det: a row per model, a column per image. When a config names novel classes (its test evaluator's
``novel_classes``, else ``model.roi_head.vocabulary.novel_classes``), novel-class boxes are drawn
orange and base-class boxes blue, and each title says so; otherwise each class gets its own colour.

seg: a row per image, the columns image | ground truth | each ``--model`` (mmseg segmentors), every
label map in the Cityscapes palette (ignore black; other datasets: their config's palette), each
model tile titled with its name and the image's mIoU against the ground truth, which is the
``*_gtFine_labelTrainIds.png`` next to the image in the Cityscapes layout (``leftImg8bit/`` ->
``gtFine/``); a class legend at the bottom.

masks: the ACAM masks a distilled run learned, for each image: the image, its M spatial masks as
heat overlays (each titled with the teacher class whose logit map it correlates with most, and r),
and the M x C channel masks as a heat matrix. The run is ``--config`` (a distillation config, its
teacher rebuilt from ``teacher.checkpoint``) + ``--checkpoint`` (the run's training checkpoint, with
the student's and distiller's weights); one ``--model NAME CONFIG CKPT`` may be given instead.
``--stretch`` maps each mask's own min..max to the full heat scale (default: 0..1).

bev: a row per LiDAR scan (of the configs' test split: its ground truth comes from the test
evaluator's ann_file), a panel per model (mmdet3d detectors): the bird's-eye view, x forward
pointing up, points coloured by height, ground truth white, predictions in their class colour, each
box with its heading; ``--scale`` is pixels per metre (default 8 in this mode).

graph: a panel per scan: the centres PointDistiller picks (grey, brightness: weight) and five of them
(ringed, heaviest to lightest) with their K neighbours in the teacher's feature space, a colour each.

``--cfg-options`` overrides entries of every config loaded (seg, masks, bev and graph modes), e.g. the
teacher checkpoint of an ACAM config, or the test ann_file of a KITTI config.
"""
import argparse
import os

from densekd.core.cli import run
from densekd.core.config import DictAction
from densekd.core.errors import MissingFile
from densekd.ovd.visualize import render_grid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["det", "seg", "masks", "bev", "graph"], default="det",
                        help="det: detection boxes; seg: segmentation maps vs ground truth; masks: ACAM masks; "
                             "bev: LiDAR detections from above; graph: PointDistiller's local graphs")
    parser.add_argument("--model", nargs=3, action="append", metavar=("NAME", "CONFIG", "CHECKPOINT"),
                        help="a model to draw (det, seg: one or more; masks: at most one, instead of "
                             "--config/--checkpoint)")
    parser.add_argument("--images", "--scenes", dest="images", nargs="+", required=True,
                        help="images (det, seg, masks) or LiDAR .bin scans (bev)")
    parser.add_argument("--out", required=True, help="image file to write (.png, .jpg)")
    parser.add_argument("--score-thr", type=float, default=0.3, help="det: smallest score drawn")
    parser.add_argument("--scale", type=int, default=None,
                        help="enlarge small images this many times (default 2); bev: pixels per metre (default 8)")
    parser.add_argument("--config", help="masks, graph: the distillation (ACAM, PointDistiller) config")
    parser.add_argument("--checkpoint", help="masks: the run's training checkpoint")
    parser.add_argument("--per-row", type=int, default=5, help="masks: mask tiles per row")
    parser.add_argument("--pair", type=int, default=0, help="masks: which distilled feature pair")
    parser.add_argument("--level", type=int, default=0, help="masks: which level of a multi-level (FPN) feature")
    parser.add_argument("--stretch", action="store_true", help="masks: stretch each mask's min..max to the full scale")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="seg, masks, bev: override entries of every config, e.g. teacher.checkpoint=PATH")
    args = parser.parse_args(argv)
    args.scale = args.scale or (8 if args.mode in ("bev", "graph") else 2)
    missing = [p for p in args.images if not os.path.isfile(p)]
    if missing:
        raise MissingFile(f"images not found: {missing}")
    if args.mode == "graph":
        from densekd.det3d.visualize import render_local_graphs

        if not args.config:
            parser.error("--mode graph needs --config POINTDISTILLER_CONFIG")
        image = render_local_graphs(args.config, args.images, scale=args.scale, cfg_options=args.cfg_options or None)
    elif args.mode == "masks":
        from densekd.seg.visualize import load_distill_module, render_acam_masks

        if args.config or args.checkpoint:
            if not (args.config and args.checkpoint) or args.model:
                parser.error("--mode masks takes --config and --checkpoint together, or one --model instead")
            name, config, checkpoint = None, args.config, args.checkpoint
        elif args.model and len(args.model) == 1:
            name, config, checkpoint = args.model[0]
        else:
            parser.error("--mode masks needs --config ACAM_CONFIG --checkpoint CKPT (or exactly one --model)")
        module = load_distill_module(config, checkpoint, args.cfg_options or None)
        image = render_acam_masks(module, args.images, args.scale, args.per_row, args.pair, args.level,
                                  args.stretch, title=name)
    elif not args.model:
        parser.error(f"--mode {args.mode} needs at least one --model NAME CONFIG CHECKPOINT")
    elif args.mode == "bev":
        from densekd.det3d.visualize import render_bev_grid

        image = render_bev_grid(args.model, args.images, args.score_thr, args.scale, args.cfg_options or None)
    elif args.mode == "seg":
        from densekd.seg.visualize import render_seg_grid

        image = render_seg_grid(args.model, args.images, args.scale, args.cfg_options or None)
    else:
        image = render_grid(args.model, args.images, args.score_thr, args.scale)
    image.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run(main)

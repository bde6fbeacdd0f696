"""Write Cityscapes' *_gtFine_labelTrainIds.png (the 19 training classes, 255 = ignore) from the release.

    python tools/prepare_cityscapes.py [--root data/cityscapes] [--overwrite]

Expects the official release unzipped into ROOT (gtFine_trainvaltest.zip and
leftImg8bit_trainvaltest.zip from https://www.cityscapes-dataset.com/downloads/), i.e.
ROOT/gtFine/{train,val,test}/<city>/*_gtFine_labelIds.png and ROOT/leftImg8bit/...; writes each
*_gtFine_labelTrainIds.png next to its labelIds file, which mmseg's CityscapesDataset reads.
Existing trainIds files are kept unless --overwrite.
"""
import argparse
import sys
from pathlib import Path

try:
    import densekd  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from densekd.core.cli import run
from densekd.data.cityscapes import convert_label_ids, find_label_id_files

DOWNLOAD_HINT = ("download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from "
                 "https://www.cityscapes-dataset.com/downloads/ (free registration) and unzip both into {root}, "
                 "so that {root}/gtFine and {root}/leftImg8bit exist")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/cityscapes", help="dataset root (default: data/cityscapes)")
    parser.add_argument("--overwrite", action="store_true", help="rewrite existing labelTrainIds files")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    root = Path(args.root)
    gt_root = root / "gtFine"
    if not gt_root.is_dir():
        sys.exit(f"prepare_cityscapes: {gt_root} not found. To get it, {DOWNLOAD_HINT.format(root=root)}.")
    sources = find_label_id_files(gt_root)
    if not sources:
        sys.exit(f"prepare_cityscapes: no *_gtFine_labelIds.png under {gt_root}. To get them, "
                 f"{DOWNLOAD_HINT.format(root=root)}.")
    written = convert_label_ids(gt_root, overwrite=args.overwrite)
    kept = len(sources) - written
    print(f"{gt_root}: wrote {written} *_gtFine_labelTrainIds.png for {len(sources)} labelIds files"
          + (f" ({kept} already there, kept; --overwrite rewrites them)" if kept else ""))
    if not (root / "leftImg8bit").is_dir():
        print(f"note: {root / 'leftImg8bit'} not found; the images come from leftImg8bit_trainvaltest.zip")
    return written


if __name__ == "__main__":
    run(main)

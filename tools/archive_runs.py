"""Keep finished runs' results (no student checkpoints; teachers' weights) in an archive, and put them back later,
so evidence that takes longer than one machine's stay adds up over several (densekd/core/archive.py says what is
kept and checked).

    python tools/archive_runs.py save work_dirs/demo_full results/demo_full       # after a session's runs
        [--files clip/demo_clip.safetensors clip/demo_clip.json]                  # the OV wing's demo CLIP
    python tools/archive_runs.py restore results/demo_full work_dirs/demo_full    # the next session, first thing

Restored runs count as finished: `tools/demo.py --full` and `tools/tune.py` skip them and table them with
the new ones. Teachers come back first; a distilled run comes back only beside a teacher with the archived
weights.
"""
import argparse
import os

from densekd.core.archive import archive_runs, check_folders, restore_files, restore_runs
from densekd.core.cli import run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    save = commands.add_parser("save", help="archive every finished run under OUT")
    save.add_argument("out", metavar="OUT", help="the runs folder (e.g. work_dirs/demo_full)")
    save.add_argument("archive", metavar="ARCHIVE", help="the archive folder (created if missing)")
    save.add_argument("--weights", nargs="+", default=[], metavar="RUN",
                      help="also keep these runs' weights (paths under OUT, e.g. second_teacher): teachers whose "
                      "students have not started yet; a run that another run names is kept without asking")
    save.add_argument("--files", nargs="+", default=[], metavar="PATH",
                      help="also keep these files (paths under OUT): what the runs' inputs were made from, e.g. "
                      "clip/demo_clip.safetensors clip/demo_clip.json for the OV wing; files a run's config names "
                      "(the class text embeddings) are kept without asking")
    restore = commands.add_parser("restore", help="put archived runs back under OUT")
    restore.add_argument("archive", metavar="ARCHIVE")
    restore.add_argument("out", metavar="OUT")
    args = parser.parse_args(argv)
    if args.command == "save":
        os.makedirs(args.archive, exist_ok=True)
        check_folders(args.out, args.archive)
        runs = archive_runs(args.out, args.archive, args.weights, args.files)
        print(f"archived {len(runs)} finished run(s) from {args.out} into {args.archive}")
        return runs
    check_folders(args.out, args.archive)
    files, differing = restore_files(args.archive, args.out)
    restored, skipped = restore_runs(args.archive, args.out)
    print(f"restored {len(files)} file(s) and {len(restored)} run(s) into {args.out}")
    for path, why in differing.items():
        print(f"  file not restored: {path} ({why})")
    for path, why in skipped.items():
        print(f"  not restored: {path} ({why})")
    return restored, skipped


if __name__ == "__main__":
    run(main)

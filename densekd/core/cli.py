"""What every densekd command line shares: deliberate errors as one line, ``--debug`` for the traceback."""
import sys

from .config import DictAction
from .errors import DensekdError


def add_training_options(parser):
    """The options of every command line that trains (``tools/train.py``, ``tools/distill.py``)."""
    parser.add_argument("--work-dir", help="default: work_dirs/<config name>")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="override config entries, e.g. train_cfg.max_iters=100")
    parser.add_argument("--resume", nargs="?", const="last", default=None,
                        help="resume from CKPT, or from WORK_DIR/last.ckpt when no path is given")
    parser.add_argument("--devices", type=int, default=None, help="devices per node")
    parser.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None)


def run(main):
    """Call ``main()`` (which parses ``sys.argv``); a :class:`DensekdError` prints as one line on stderr and
    exits with status 1, unless ``--debug`` is among the arguments (then it is raised with its traceback)."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        main()
    except DensekdError as err:
        if debug:
            raise
        message = " ".join(str(err).split())  # one line, whatever the message's layout
        print(f"error: {message} (--debug shows the traceback)", file=sys.stderr, flush=True)
        sys.exit(1)
    sys.exit(0)

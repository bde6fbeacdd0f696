"""What every densekd command line shares: deliberate errors as one line, ``--debug`` for the traceback."""
import sys

from .errors import DensekdError


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

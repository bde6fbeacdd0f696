"""The JSON manifest a dataset generator or preparation step leaves next to its output, so that a
rerun with the same inputs is skipped and an interrupted one is not mistaken for a finished one."""
import json
import os
from pathlib import Path


def read_json_or_none(path):
    """The JSON content of ``path``, or None when it is missing or unreadable (e.g. half written)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path, data, indent=None):
    """Write ``data`` as JSON through a temporary file and a rename: no half file is ever left."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent) + "\n")
    os.replace(tmp, path)

"""Plain-text / Markdown tables for metrics, as the tools print them."""
import math
import re

# a per-class key: ``[<prefix>/]IoU.<class name>`` or ``[<prefix>/]Acc.<class name>`` (SegmentationMetric)
_PER_CLASS = re.compile(r"^(?:(?P<prefix>[^/]+)/)?(?P<kind>IoU|Acc)\.(?P<name>.+)$")
PER_CLASS_COLUMNS = ("IoU", "Acc")


def _cell(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(rows, columns):
    """A Markdown table of ``rows`` (dicts) with the given ``columns``; missing cells show '-'."""
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_cell(row.get(c, "-")) for c in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _is_per_class(key):
    return _PER_CLASS.match(key) is not None


def metrics_table(metrics):
    """A two-column Markdown table of ``{metric: value}``, without the per-class entries (if any)."""
    return markdown_table([dict(metric=k, value=v) for k, v in metrics.items() if not _is_per_class(k)],
                          ["metric", "value"])


def per_class_table(metrics):
    """A Markdown table (class | IoU | Acc) of the ``IoU.<name>`` / ``Acc.<name>`` entries of ``metrics``.

    One row per class, in the order the classes first appear; a prefixed key (``seg/IoU.road``) gives
    the row ``seg/road``. NaN (a class absent from prediction and ground truth) and a missing value
    show as '-'. Returns '' when ``metrics`` has no per-class entry.
    """
    rows = {}
    for key, value in metrics.items():
        match = _PER_CLASS.match(key)
        if match is None:
            continue
        name = f"{match['prefix']}/{match['name']}" if match["prefix"] else match["name"]
        row = rows.setdefault(name, {"class": name})
        if not (isinstance(value, float) and math.isnan(value)):
            row[match["kind"]] = value
    return markdown_table(list(rows.values()), ["class", *PER_CLASS_COLUMNS]) if rows else ""


def json_safe(metrics):
    """``metrics`` with NaN / infinite floats as None, so ``json.dump`` writes valid JSON (null)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}

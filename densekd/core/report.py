"""Plain-text / Markdown tables for metrics, as the tools print them."""


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


def metrics_table(metrics):
    """A two-column Markdown table of ``{metric: value}``."""
    return markdown_table([dict(metric=k, value=v) for k, v in metrics.items()], ["metric", "value"])

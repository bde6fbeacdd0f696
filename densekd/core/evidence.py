"""Evidence that can rank methods: runs of two arms with the same seeds, compared pair by pair.

A claim "arm A beats arm B" needs the paired difference over seeds (A's run of seed s minus B's run of
seed s) to have a 95% confidence interval (Student t over the seeds) that excludes 0. Anything else is
"no difference shown"; one seed ranks nothing.
"""
import math
import statistics
from dataclasses import dataclass

from .errors import InvalidValue
from .report import markdown_table

NO_INTERVAL = "one seed: no interval, ranks nothing"


@dataclass(frozen=True)
class PairedDifference:
    """``arm - baseline`` over the seeds both ran: mean, sd and the confidence interval of the mean."""

    seeds: tuple
    mean: float
    sd: float  # nan with one seed
    low: float  # the interval's ends; nan with one seed
    high: float
    confidence: float = 0.95

    @property
    def is_finding(self):
        """True when the interval excludes 0: the seeds show a difference."""
        return self.low > 0 or self.high < 0

    def describe(self, digits=2):
        """``'+1.20 [+0.40, +2.00], finding'``, ``'... , no difference shown'`` or the one-seed note."""
        mean = f"{self.mean:+.{digits}f}"
        if len(self.seeds) < 2:
            return f"{mean} ({NO_INTERVAL})"
        verdict = "finding" if self.is_finding else "no difference shown"
        return f"{mean} [{self.low:+.{digits}f}, {self.high:+.{digits}f}], {verdict}"


def t_quantile(confidence, dof):
    """The two-sided Student t quantile: the interval's half-width is this times the standard error."""
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, dof))


def paired_difference(arm, baseline, confidence=0.95, what="the arm"):
    """The paired difference ``arm[s] - baseline[s]`` of two ``{seed: value}`` sets with the same seeds."""
    if set(arm) != set(baseline):
        raise InvalidValue(
            f"{what} and its baseline ran different seeds ({sorted(arm)} vs {sorted(baseline)}): a paired "
            f"comparison needs the same seeds on both sides — run seeds {sorted(set(arm) ^ set(baseline))} on the "
            "side that lacks them, or compare only the seeds both have")
    if not arm:
        raise InvalidValue(f"{what}: no finished run to compare")
    if not 0 < confidence < 1:
        raise InvalidValue(f"confidence={confidence}: give a level between 0 and 1, e.g. 0.95")
    seeds = tuple(sorted(arm))
    diffs = [arm[s] - baseline[s] for s in seeds]
    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return PairedDifference(seeds, mean, math.nan, math.nan, math.nan, confidence)
    sd = statistics.stdev(diffs)
    half = t_quantile(confidence, len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return PairedDifference(seeds, mean, sd, mean - half, mean + half, confidence)


def mean_sd(values, digits=2):
    """``'26.44 ± 0.48'`` over the values (``'26.44'`` for one)."""
    values = list(values)
    mean = f"{statistics.mean(values):.{digits}f}"
    return f"{mean} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else mean


def comparison_rows(arms, baseline, metrics, digits=2, confidence=0.95, unpaired=()):
    """Table rows of ``arms`` (``{name: {seed: {metric: value}}}``) against the arm named ``baseline``: each
    arm's mean ± sd per metric (``metrics``: keys, or ``{column: key}``) and, for every arm but the baseline and the ``unpaired`` ones (e.g. a teacher
    trained once), the paired difference with its interval. Paired arms must have the baseline's seeds."""
    if baseline not in arms:
        raise InvalidValue(f"baseline {baseline!r} is not among the arms {sorted(arms)}")
    metrics = metrics if hasattr(metrics, "items") else {m: m for m in metrics}
    rows = []
    for name, runs in arms.items():
        row = {"model": name, "seeds": " ".join(str(s) for s in sorted(runs))}
        for column, key in metrics.items():
            row[column] = mean_sd([runs[s][key] for s in sorted(runs)], digits) if runs else "no finished run"
            if runs and name != baseline and name not in unpaired:
                row[f"Δ {column}"] = paired_difference(
                    {s: r[key] for s, r in runs.items()}, {s: r[key] for s, r in arms[baseline].items()},
                    confidence, repr(name)).describe(digits)
        rows.append(row)
    return rows


def comparison_table(arms, baseline, metrics, digits=2, confidence=0.95, unpaired=()):
    """A Markdown table of :func:`comparison_rows` with a line on how to read it."""
    rows = comparison_rows(arms, baseline, metrics, digits, confidence, unpaired)
    columns = ["model", "seeds"] + [c for m in metrics for c in (m, f"Δ {m}")]  # dict or list: its columns
    note = (f"Δ: the paired difference to '{baseline}' over the same seeds, mean [{round(100 * confidence)}% "
            "interval, Student t]; 'finding' when the interval excludes 0, else 'no difference shown'.")
    if len(arms[baseline]) < 2:
        note += " One seed ranks nothing: these differences are not evidence."
    return f"{markdown_table(rows, columns)}\n\n{note}"

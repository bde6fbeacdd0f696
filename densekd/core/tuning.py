"""The tuning protocol, the same for every distiller (the plain mimic baseline too).

1. A grid of at most six settings — the loss weight and one method-specific knob, the config's own (the
   paper's) values always among them — each trained with one seed (``TUNING_SEED``; ``tuning.seeds`` or
   ``--tuning-seeds`` give more, and the mean over them ranks) and ranked by the tuning split (the run's last
   validation, ``val_dataloader``).
2. The best setting and the paper's train with the report seeds and are tested once on the report split
   (``test_dataloader``), next to the student alone with the same seeds; the table pairs them seed by seed.

The tuning runs are never tested on the report split, and the report seeds differ from the tuning seeds.
"""
import itertools
import json
import os
import re
from dataclasses import dataclass

from .config import config_value, load_config
from .errors import InvalidValue, UnknownKey
from .evidence import comparison_table, mean_sd
from .report import markdown_table
from .runner import Step, diverged_seeds, finished_metrics, read_result, train_and_test, train_only

MAX_SETTINGS = 6
TUNING_SEED = 0
REPORT_SEEDS = (1, 2, 3, 4, 5)
STUDENT_ALONE = "student alone"


def as_option(value):
    """``value`` as a ``--cfg-options`` value reads it back: ``[a,b]`` for lists, ``(a,b)`` for tuples, ``None``,
    numbers, names."""
    if isinstance(value, list):
        return "[" + ",".join(as_option(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(as_option(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def plain(value):
    """Config lists / dicts as plain Python ones (so that grid values compare with the config's)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Setting:
    """One point of the grid: ``{config key: value}``."""

    values: tuple  # ((key, value), ...)

    @property
    def options(self):
        return {key: as_option(value) for key, value in self.values}

    @property
    def name(self):
        return ", ".join(f"{key.rsplit('.', 1)[-1]}={as_option(value)}" for key, value in self.values)

    @property
    def slug(self):
        """A folder name that tells the setting."""
        return re.sub(r"[^\w.=,+-]", "", self.name.replace(", ", "_")).replace("=", "-").replace(",", "+")


@dataclass(frozen=True)
class Protocol:
    """What ``tools/tune.py`` runs for ``config``: its grid (each key's values, the config's own first), the
    metric that ranks settings and reports, and the ``--cfg-options`` every run gets."""

    config: str
    grid: tuple  # ((key, (values...)), ...)
    metric: str
    options: tuple = ()  # ((key, value), ...) as --cfg-options strings
    seeds: tuple = (TUNING_SEED,)  # the tuning runs' seeds; the mean over them ranks the settings

    @property
    def seeds_label(self):
        return f"seed{'s' if len(self.seeds) > 1 else ''} {' '.join(str(s) for s in self.seeds)}"

    @property
    def settings(self):
        """Every setting of the grid; the first is the config's own (the paper's)."""
        keys = [key for key, _ in self.grid]
        return [Setting(tuple(zip(keys, values))) for values in itertools.product(*(v for _, v in self.grid))]

    @property
    def paper(self):
        return self.settings[0]


def load_protocol(config, grid=None, metric=None, cfg_options=None, seeds=None):
    """The tuning protocol of ``config``: ``grid`` (``{key: [values]}``, e.g. from ``--grid``), ``metric`` and the
    tuning ``seeds``, or else the config's ``tuning = dict(grid={...}, metric=..., seeds=[...])`` (seeds: default
    ``TUNING_SEED`` alone). Keys must exist in the config; the config's own value joins each key's list (first)
    when it is missing; at most ``MAX_SETTINGS`` settings."""
    cfg = load_config(config, cfg_options)
    tuning = plain(cfg.get("tuning") or {})
    grid = plain(grid or tuning.get("grid") or {})
    metric = metric or tuning.get("metric")
    if not grid:
        raise UnknownKey(f"{config}: no grid to tune — give --grid KEY=V1,V2 (e.g. --grid distiller.loss_weight=1,3) "
                         "or write tuning = dict(grid={...}, metric=...) in the config")
    if not metric:
        raise UnknownKey(f"{config}: no metric ranks the settings — give --metric NAME (a key of the val "
                         "evaluator's results, e.g. mIoU) or set tuning.metric in the config")
    keys = []
    for key, values in grid.items():
        values = values if isinstance(values, list) else [values]
        own = plain(config_value(cfg, key, "--grid"))
        keys.append((key, tuple([own] + [v for v in values if v != own])))
    count = 1
    for _, values in keys:
        count *= len(values)
    if count > MAX_SETTINGS:
        sizes = " x ".join(str(len(v)) for _, v in keys)
        raise InvalidValue(f"the grid has {count} settings ({sizes}, the config's own values included); the "
                           f"protocol allows at most {MAX_SETTINGS}: drop values or keys")
    seeds = tuple(int(s) for s in (seeds or tuning.get("seeds") or [TUNING_SEED]))
    if len(set(seeds)) != len(seeds):
        raise InvalidValue(f"tuning seeds {list(seeds)} repeat a seed: give distinct ones, e.g. --tuning-seeds 0 6 7")
    options = {k: as_option(v) for k, v in (cfg_options or {}).items()}
    max_iters, interval = cfg.train_cfg.max_iters, cfg.train_cfg.get("val_interval", cfg.train_cfg.max_iters)
    if max_iters % interval:  # settings are ranked by the trained model's score: validate at the last step
        options["train_cfg.val_interval"] = str(max_iters)
    return Protocol(config, tuple(keys), metric, tuple(options.items()), seeds)


def tuning_dir(out, setting, seed=TUNING_SEED):
    """``out/tuning/<setting>``, with ``_seed<k>`` for a seed other than ``TUNING_SEED``."""
    return os.path.join(out, "tuning", setting.slug + ("" if seed == TUNING_SEED else f"_seed{seed}"))


def report_dir(out, arm, seed):
    return os.path.join(out, "report", arm, f"seed{seed}")


def tuning_steps(protocol, out, label, after=(), seconds=60.0):
    """One step per setting and tuning seed: trained, validated on the tuning split, never tested."""
    steps = []
    for seed in protocol.seeds:
        for setting in protocol.settings:
            folder = os.path.basename(tuning_dir(out, setting, seed))
            steps.append(Step(f"{label}: tuning {setting.name}" + (f" (seed {seed})" if len(protocol.seeds) > 1 else ""),
                              lambda tool, s=setting, k=seed: train_only(tool, protocol.config, tuning_dir(out, s, k), k,
                                                                         options_list(protocol, s)),
                              after=after, seconds=seconds, log=os.path.join(out, "logs", f"tuning_{folder}.log")))
    return steps


def options_list(protocol, setting, extra=()):
    """``key=value`` strings: the protocol's options, then the setting's, then ``extra``."""
    options = {**dict(protocol.options), **setting.options, **dict(extra)}
    return [f"{k}={v}" for k, v in options.items()]


def validated_score(protocol, work_dir):
    """A run's score on the tuning split at its last step (tuning and report runs alike); ``None`` when it did not
    finish, diverged or never validated (it cannot win). A missing metric is refused, naming the ones the run has."""
    result = read_result(work_dir, tested=False)
    if result is None or not result[1].get("val_metrics"):
        return None
    metrics, summary = result[1]["val_metrics"], result[1]
    if summary["val_iteration"] != summary["iterations"]:
        raise InvalidValue(f"tuning run {work_dir} last validated at step {summary['val_iteration']} of "
                           f"{summary['iterations']}: settings are ranked by the final model — make "
                           "train_cfg.val_interval divide max_iters")
    if protocol.metric not in metrics:
        raise UnknownKey(f"tuning metric {protocol.metric!r} is not among the tuning split's results of "
                         f"{protocol.config} ({', '.join(sorted(metrics))}): set tuning.metric or --metric")
    return metrics[protocol.metric]


def tuning_seed_scores(protocol, out):
    """``{setting: [score of each tuning seed]}`` of the settings whose every tuning run finished with a score."""
    scores = {}
    for setting in protocol.settings:
        values = [validated_score(protocol, tuning_dir(out, setting, seed)) for seed in protocol.seeds]
        if None not in values:
            scores[setting] = values
    return scores


def unended_settings(protocol, out):
    """The settings with a tuning run that has not ended (neither finished nor diverged): while there are any, the
    grid's best is only the best so far."""
    return [setting for setting in protocol.settings
            if any(read_result(tuning_dir(out, setting, seed), tested=False) is None for seed in protocol.seeds)]


def tuning_scores(protocol, out, seed_scores=None):
    """``{setting: its mean score on the tuning split over the tuning seeds}``, for the settings that finished.
    ``seed_scores``: :func:`tuning_seed_scores`, when already read."""
    seed_scores = tuning_seed_scores(protocol, out) if seed_scores is None else seed_scores
    return {setting: sum(values) / len(values) for setting, values in seed_scores.items()}


def best_setting(protocol, out, scores=None):
    """The setting with the highest tuning-split score (the paper's on a tie); refused when none finished.
    ``scores``: :func:`tuning_scores`, when already read."""
    scores = tuning_scores(protocol, out) if scores is None else scores
    if not scores:
        raise InvalidValue(f"no tuning run of {protocol.config} finished with a score (logs: {out}/logs): fix "
                           "what stopped them and re-run; finished runs are kept")
    return max(protocol.settings, key=lambda s: (scores.get(s, float("-inf")), s == protocol.paper))


def settled_choice(protocol, out):
    """The grid's choice once every grid point has ended and one has a score; ``None`` while it is not known."""
    if unended_settings(protocol, out) or not (scores := tuning_scores(protocol, out)):
        return None
    return best_setting(protocol, out, scores)


def arm_steps(protocol, out, label, seeds, student_alone=False, after=(), seconds=60.0):
    """Steps of the report runs: the paper's setting and the tuned one over ``seeds`` (the tuned one once the
    tuning steps are done; it reuses the paper's runs when they are the same setting, so it waits for them unless
    the grid has already chosen another) and, with ``student_alone``, the student alone (the same config and
    options, ``teacher=None``)."""
    if set(seeds) & set(protocol.seeds):
        raise InvalidValue(f"report seeds {list(seeds)} overlap the tuning seeds {list(protocol.seeds)}: the report "
                           "runs need seeds the grid never trained with — change --seeds or --tuning-seeds")
    tuning = [step.name for step in tuning_steps(protocol, out, label)]  # the tuned runs wait for them
    choice = settled_choice(protocol, out)
    tuned_needs_paper = choice is None or choice == protocol.paper
    alone = options_list(protocol, Setting(()), extra={"teacher": "None"})
    steps = []
    for seed in seeds:
        if student_alone:
            steps.append(Step(f"{label}: {STUDENT_ALONE} (seed {seed})",
                              lambda tool, s=seed: train_and_test(tool, protocol.config, report_dir(out, "student_alone", s),
                                                                  s, alone),
                              after=after, seconds=seconds, log=os.path.join(out, "logs", f"student_alone_seed{seed}.log")))
        paper = Step(f"{label}: paper setting (seed {seed})",
                     lambda tool, s=seed: train_and_test(tool, protocol.config, report_dir(out, protocol.paper.slug, s),
                                                         s, options_list(protocol, protocol.paper)),
                     after=after, seconds=seconds, log=os.path.join(out, "logs", f"paper_seed{seed}.log"))

        def tuned(tool, s=seed):
            best = best_setting(protocol, out)
            train_and_test(tool, protocol.config, report_dir(out, best.slug, s), s, options_list(protocol, best))

        steps += [paper, Step(f"{label}: tuned setting (seed {seed})", tuned,
                              after=(*after, *tuning, *([paper.name] if tuned_needs_paper else [])),
                              seconds=seconds, log=os.path.join(out, "logs", f"tuned_seed{seed}.log"))]
    return steps


def report_dirs(out, arm, seeds):
    """``{seed: work dir}`` of the report runs of ``arm`` (a folder name under ``out/report``)."""
    return {seed: report_dir(out, arm, seed) for seed in seeds}


def tuning_table(protocol, out):
    """The grid on the tuning split: each setting's score, the paper's and the chosen one marked."""
    seed_scores = tuning_seed_scores(protocol, out)
    best = best_setting(protocol, out, tuning_scores(protocol, out, seed_scores)) if seed_scores else None
    column = f"{protocol.metric} (tuning split, {protocol.seeds_label})"
    chosen = "yes" if not unended_settings(protocol, out) else "best so far"
    rows = [{"setting": s.name + (" (paper)" if s == protocol.paper else ""),
             column: mean_sd(seed_scores[s], 3) if s in seed_scores else "did not finish",
             "chosen": chosen if s == best else ""} for s in protocol.settings]
    return markdown_table(rows, ["setting", column, "chosen"])


def choice_check(protocol, out, seeds, digits=2):
    """Does the grid's one-seed choice hold over more seeds? The tuned and the paper's setting on the tuning split
    over the report seeds (the report runs' own last validations: the report split is not read), paired. ``""``
    while the tuned setting is the paper's or no seed has both runs."""
    scores = tuning_scores(protocol, out)
    if not scores or (best := best_setting(protocol, out, scores)) == protocol.paper:
        return ""
    arms = {f"{setting.name}{label}": {seed: score for seed in seeds
                                        if (score := validated_score(protocol, report_dir(out, setting.slug, seed)))
                                        is not None}
            for setting, label in ((protocol.paper, " (paper)"), (best, " (tuned)"))}
    common = set.intersection(*(set(runs) for runs in arms.values()))
    if not common:
        return ""
    arms = {name: {s: {protocol.metric: runs[s]} for s in sorted(common)} for name, runs in arms.items()}
    paper = next(iter(arms))
    return (f"Does the grid's choice ({protocol.seeds_label}) hold over seeds {sorted(common)}? Both settings on the "
            f"tuning split, each report run's last validation:\n\n"
            f"{comparison_table(arms, paper, [protocol.metric], digits)}")


def protocol_arms(protocol, out, seeds, name):
    """``{arm name: {seed: work dir}}`` of ``name`` at the paper's setting and at the tuned one (no runs while no
    tuning run has finished: its row then says so, and the paper's row stands on its own)."""
    arms = {f"{name}, paper setting ({protocol.paper.name})": report_dirs(out, protocol.paper.slug, seeds)}
    scores = tuning_scores(protocol, out)
    if not scores:
        arms[f"{name}, tuned (grid not run yet)"] = {}
        return arms
    best = best_setting(protocol, out, scores)
    label = best.name if best != protocol.paper else "= the paper setting"
    if unended := unended_settings(protocol, out):
        label += f"; best so far, {len(unended)} of {len(protocol.settings)} grid points not ended"
    arms[f"{name}, tuned ({label})"] = report_dirs(out, best.slug, seeds)
    return arms


def paired_arms(arm_dirs, unpaired=()):
    """``(arms, note)``: the test metrics of the finished runs of ``arm_dirs`` (``{arm: {seed: work dir}}``),
    those not ``unpaired`` restricted to the seeds every one of them finished (an arm with none is left empty:
    its row says so), and a note naming the seeds left out and the runs that diverged — a failure of that
    setting, not a missing score."""
    finished = {name: finished_metrics(dirs) for name, dirs in arm_dirs.items()}
    paired = [set(runs) for name, runs in finished.items() if runs and name not in unpaired]
    seeds = set.intersection(*paired) if paired else set()
    dropped = sorted(set().union(*paired) - seeds)
    diverged = [f"{name} (seed {seed})" for name, dirs in arm_dirs.items() for seed in diverged_seeds(dirs)]
    notes = ([f"Seeds {dropped} did not finish in every arm and are left out."] if dropped else []) + \
        ([f"Diverged (training stopped at a NaN/inf loss; no score): {', '.join(diverged)}."] if diverged else [])
    arms = {name: runs if name in unpaired else {s: r for s, r in runs.items() if s in seeds}
            for name, runs in finished.items()}
    return arms, " ".join(notes)


def tuning_report(protocol, out, seeds, name="distilled"):
    """The protocol's two tables: the grid on the tuning split, and the report split's paired comparison."""
    arms, note = paired_arms({STUDENT_ALONE: report_dirs(out, "student_alone", seeds),
                              **protocol_arms(protocol, out, seeds, name)})
    if not all(arms.values()):
        raise InvalidValue(f"no seed finished in every arm (logs: {out}/logs): nothing to compare yet. {note}")
    note = f"\n\n{note}" if note else ""
    check = choice_check(protocol, out, seeds)
    text = (f"Tuning split ({protocol.config}):\n\n{tuning_table(protocol, out)}\n\n"
            + (f"{check}\n\n" if check else "") +
            f"Report split, {len(next(iter(arms.values())))} seeds:\n\n"
            f"{comparison_table(arms, STUDENT_ALONE, [protocol.metric])}{note}\n")
    with open(os.path.join(out, "tuning.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "tuning.json"), "w") as f:
        json.dump(dict(config=protocol.config, metric=protocol.metric, grid=[[k, list(v)] for k, v in protocol.grid],
                       chosen=best_setting(protocol, out).options, arms=arms), f, indent=2, default=str)
    return text

"""Run steps (training runs, tools) side by side on the CPU cores, each tool in its own process with its own log,
printing a progress line per step and an ETA."""
import atexit
import os
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

from .config import load_config, parse_cfg_options, settings_changed
from .errors import DensekdError, InvalidValue, StepFailed
from ..data.manifest import read_json_or_none


@dataclass
class Step:
    """One unit of the demo: ``action(tool)`` runs densekd's tools through ``tool(script, *args)``."""

    name: str
    action: Callable
    after: tuple = ()  # names of the steps that must have finished first
    seconds: float = 60.0  # its expected duration on one thread of a 2-core x86 CPU (for the ETA)
    log: str = ""  # where its tools' output goes


class ToolRunner:
    """Runs ``python tools/<script>.py ...`` for one step: output appended to the step's log, ``threads``
    CPU threads (so that steps side by side do not oversubscribe the cores)."""

    def __init__(self, log, threads):
        self.log, self.threads = log, threads

    def __call__(self, script, *args):
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "PYTHONUNBUFFERED": "1"}
        os.makedirs(os.path.dirname(self.log) or ".", exist_ok=True)
        with open(self.log, "a") as log:
            log.write(f"$ python {script} {' '.join(map(str, args))}\n")
            log.flush()
            code = subprocess.run([sys.executable, script, *map(str, args)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env).returncode
        if code:
            raise StepFailed(f"`python {script} {' '.join(map(str, args))}` exited with {code}: {last_error(self.log)}"
                             f" (log: {self.log})")


def last_error(log):
    """The last 'error:' line of a log (densekd's one-line errors), else its last line."""
    with open(log, errors="replace") as f:
        lines = [line.strip() for line in f.read().replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or "Error" in line.split(":")[0]]
    return (errors or lines or ["(empty log)"])[-1]


def clock(seconds):
    """``'1h02m'``, ``'12m05s'`` or ``'42s'``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def critical_paths(steps):
    """``{name: expected seconds from the step's start to the end of the longest chain of steps waiting on it}``."""
    waiting = {step.name: [s for s in steps if step.name in s.after] for step in steps}
    paths = {}

    def path(step):
        if step.name not in paths:
            paths[step.name] = step.seconds + max((path(s) for s in waiting[step.name]), default=0.0)
        return paths[step.name]

    for step in steps:
        path(step)
    return paths


RUNNERS = os.path.join(tempfile.gettempdir(), "densekd_runners")  # one empty file per live runner, named by its pid


def threads_per_step(jobs, echo=print):
    """CPU threads for each of ``jobs`` steps side by side, sharing the cores with the other densekd runners alive on
    this machine (``tools/demo.py``, ``tools/tune.py``): two runners that each took every core ran their steps 7x
    slower than one runner with both lanes. Registers this runner for the ones that start later."""
    os.makedirs(RUNNERS, exist_ok=True)
    others = []
    for name in os.listdir(RUNNERS):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            os.kill(int(name), 0)
            others.append(int(name))
        except ProcessLookupError:  # a runner that ended without cleaning up
            os.remove(os.path.join(RUNNERS, name))
        except PermissionError:  # alive, another user's
            others.append(int(name))
    mine = os.path.join(RUNNERS, str(os.getpid()))
    open(mine, "w").close()
    atexit.register(lambda: os.path.exists(mine) and os.remove(mine))  # a pid reused later is not a runner
    threads = max(1, (os.cpu_count() or 1) // (jobs * (1 + len(others))))
    if others:
        echo(f"note: {len(others)} other densekd runner(s) on this machine (pid {', '.join(map(str, sorted(others)))}); "
             f"each step here gets {threads} thread(s) so that the cores are shared, not oversubscribed", flush=True)
    return threads


PACE_MIN_S = 60  # a shorter step is mostly start-up, or found finished and skipped: it says nothing of the pace


def work_pace(finished):
    """How much longer than expected the steps that did real work took: ``finished`` is ``(took, expected)``
    seconds per finished step; 1 until a step of at least PACE_MIN_S has finished; kept within 0.5-3."""
    timed = [(took, expected) for took, expected in finished if took >= PACE_MIN_S]
    if not timed:
        return 1.0
    return min(3.0, max(0.5, sum(took for took, _ in timed) / sum(expected for _, expected in timed)))


def run_steps(steps, jobs, threads, echo=print):
    """Run ``steps``, ``jobs`` at a time, each once the steps it comes ``after`` are done, the one heading the
    longest chain first; return ``{name: 'done' | 'failed: why' | 'skipped: why'}``. A failed step skips
    those that need it; the others go on."""
    names = [step.name for step in steps]
    unknown = {dep for step in steps for dep in step.after} - set(names)
    if unknown:
        raise StepFailed(f"steps wait for unknown steps {sorted(unknown)}")
    paths = critical_paths(steps)
    pending = sorted(steps, key=lambda step: -paths[step.name])
    status, started, took, running = {}, {}, {}, {}
    start = time.perf_counter()
    width = len(str(len(steps)))

    def line(word, step, extra=""):
        count = f"[{len(status):{width}d}/{len(steps)}]"
        echo(f"{count} {clock(time.perf_counter() - start):>6}  {word:<7} {step.name}{extra}", flush=True)

    def eta():
        """Remaining expected work over the lanes, scaled by how the finished steps compared to their estimates."""
        pace = work_pace([(took[s.name], s.seconds) for s in steps if status.get(s.name) == "done"])
        now = time.perf_counter()
        left = sum(s.seconds for s in pending) + sum(max(0.0, s.seconds * pace - (now - started[s.name])) / pace
                                                     for s in running.values())
        return clock(pace * left / jobs)

    with ThreadPoolExecutor(jobs) as pool:
        while pending or running:
            for step in list(pending):
                blocked = [dep for dep in step.after if dep in status and status[dep] != "done"]
                if blocked:
                    pending.remove(step)
                    status[step.name] = f"skipped: {blocked[0]} did not finish"
                    line("skipped", step, f" ({blocked[0]} did not finish)")
                elif len(running) < jobs and all(status.get(dep) == "done" for dep in step.after):
                    pending.remove(step)
                    started[step.name] = time.perf_counter()
                    running[pool.submit(step.action, ToolRunner(step.log, threads))] = step
                    line("start", step, f"  (log: {step.log})" if step.log else "")
            if not running:
                if pending:
                    raise StepFailed(f"steps wait for each other: {[s.name for s in pending]}")
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                took[step.name] = time.perf_counter() - started[step.name]
                error = future.exception()
                status[step.name] = "done" if error is None else f"failed: {error}"
                if error is None:
                    line("done", step, f" in {clock(took[step.name])} · ETA {eta()}")
                    continue
                message = " ".join(str(error).split())
                if not isinstance(error, DensekdError):  # a bug: name it, keep its traceback in the log
                    message = f"{type(error).__name__}: {message}"
                    if step.log:
                        os.makedirs(os.path.dirname(step.log) or ".", exist_ok=True)
                        with open(step.log, "a") as log:
                            log.write("".join(traceback.format_exception(error)))
                line("FAILED", step, f": {message}")
    return status


def train_only(tool, config, work_dir, seed, options=()):
    """Train ``config`` into ``work_dir`` (resume an interrupted run; skip a finished one, refusing it when it was
    trained with other settings). A run that diverged (its summary says so) is a result too."""
    summary_path = os.path.join(work_dir, "train_summary.json")
    if os.path.exists(summary_path):
        check_same_settings(config, work_dir, [f"seed={seed}", *options])
        return
    resume = ["--resume"] if os.path.exists(os.path.join(work_dir, "last.ckpt")) else []
    try:
        tool("tools/train.py", config, "--work-dir", work_dir, "--cfg-options", f"seed={seed}", *options, *resume)
    except StepFailed:
        if not os.path.exists(summary_path):  # not a divergence: a real failure
            raise


def check_same_settings(config, work_dir, options):
    """Refuse a finished run in ``work_dir`` whose dumped config differs from ``config`` with ``options``: runs are
    found by folder, and a config changed since (a new default form of a method) must not be tabled as if it had
    trained the new one."""
    changed = settings_changed(load_config(config, parse_cfg_options(options)), os.path.join(work_dir, "config.py"))
    if changed:
        raise InvalidValue(f"{work_dir} finished with other settings than {config} now gives it "
                           f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''}): move the run away "
                           "(e.g. under results/superseded/) to train it again, or restore the config")


def train_and_test(tool, config, work_dir, seed, options=()):
    """:func:`train_only`, then test the run (the config's test split) unless it diverged or was tested."""
    train_only(tool, config, work_dir, seed, options)
    if read_result(work_dir) is None:  # trained, not diverged, not yet tested
        tool("tools/test.py", config, os.path.join(work_dir, "last.ckpt"), "--work-dir", work_dir,
             "--cfg-options", f"seed={seed}", *options)


def read_result(work_dir, tested=True):
    """``(metrics, summary)`` of a finished run; ``({}, summary)`` when it diverged; ``None`` when it did not
    finish. ``tested=False``: a trained run is finished (its ``metrics`` are then ``{}``), tested or not."""
    summary = read_json_or_none(os.path.join(work_dir, "train_summary.json"))
    if summary is None:
        return None
    if summary.get("diverged") or not tested:
        return {}, summary
    metrics = read_json_or_none(os.path.join(work_dir, "metrics.json"))
    return None if metrics is None else (metrics, summary)


def finished_metrics(work_dirs):
    """``{seed: test metrics}`` of the finished, not diverged runs among ``{seed: work_dir}``."""
    results = {seed: read_result(work_dir) for seed, work_dir in work_dirs.items()}
    return {seed: result[0] for seed, result in results.items() if result and result[0]}


def diverged_seeds(work_dirs):
    """The seeds among ``{seed: work_dir}`` whose training stopped at a NaN/inf loss."""
    return sorted(seed for seed, work_dir in work_dirs.items()
                  if (result := read_result(work_dir, tested=False)) and result[1].get("diverged"))


def schedule_options(config, scale):
    """``--cfg-options`` that run ``config``'s schedule at ``scale`` times its length: iterations, validation,
    checkpoints and LR steps alike (LR warm-ups keep their length). ``[]`` at scale 1."""
    if scale == 1:
        return []
    cfg = load_config(config)
    options = [f"train_cfg.{key}={max(1, round(cfg.train_cfg[key] * scale))}"
               for key in ("max_iters", "val_interval", "checkpoint_interval") if key in cfg.train_cfg]
    milestones = (cfg.get("lr_schedule") or {}).get("milestones")
    if milestones:
        options.append(f"lr_schedule.milestones=[{','.join(str(round(m * scale)) for m in milestones)}]")
    return options

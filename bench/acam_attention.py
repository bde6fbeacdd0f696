"""ACAM-KD's cost: (1) STCA-FF's attention, time and peak memory of one forward + backward against a
plain matmul-softmax attention with an explicit HW x HW matrix; (2) the ACAM training step against
the student-alone step on the segmentation demo pair (issue 10).

    python bench/acam_attention.py [--quick] [--device cpu|cuda] [--max-gib 12]
                                   [--iters 15] [--warmup 3] [--parts attention,step]

Part 1. Batch 1, fp32, maps 32x64, 64x128 and 128x256 (``--quick``: 16x32 and 32x64), widths
C = 19 (Cityscapes logits, C_qk = 9) and C = 256 (an FPN level, C_qk = 128). Two arms per case,
with the same 1x1 projections (one ``StudentTeacherCrossAttention``, teacher queries):

- ``STCA``: the module itself. It zero-pads Q, K (C_qk) and V (C) to one contiguous head width so
  that ``F.scaled_dot_product_attention`` can take a fused kernel (flash / memory-efficient,
  memory O(HW));
- ``plain``: ``softmax(Q K^T / sqrt(C_qk)) V`` written out, the HW x HW matrix materialised.

The kernel each arm runs is read from the profiler (on an 8x8 map), not assumed. The script first
checks that the two arms agree (output and input gradient) on a small map. Time: the arms
interleaved in this process, medians of ``--repeats`` after one warm-up (up to 2048 positions, 3x
the repeats after 3 warm-ups: these take milliseconds, and the first steps of a process stall); a
case with more than 8192 positions (128x256) runs ONCE, timed in its memory measurement's process
(marked "1 run"). Peak memory: on CUDA the allocator's peak over what was allocated before the
step; on CPU (torch keeps no CPU allocator statistics) the peak resident-memory growth of a fresh
process (forked from a server that has only imported this script) while it runs the step once after
a tiny warm-up: ``ru_maxrss`` against the resident size before the step, and a thread sampling the
resident size every 0.5 ms, whichever is larger. A case runs only if its estimated peak is at most
``--max-gib`` (on CPU also at most 60% of the memory available at the start); otherwise it is
recorded as skipped with that estimate. Estimate: for the first map, 3 HW x HW fp32 matrices (what
a math-path forward + backward holds at once) plus Q, K, V and their gradients; after that the
previous map's measured peak scaled by the position ratio squared for a path that holds the HW x HW
matrix (plain, or SDPA's math fallback), linearly for a fused kernel; a plain estimate is never
below the first-map rule.

Part 2. One training step (``training_step`` + backward + optimizer step, outside a Trainer) of
the demo student alone, the teacher's forward (``_run_teacher`` on the preprocessed batch, no
grad), the ACAM-KD step and the feature-mimic step, interleaved (the first phase rotating) on the
same batches from the config's own train loader: ``configs/demo/deeplabv3_acam_streets.py``
(student DeepLabV3 R18 width 8; teacher the same at width 32, random weights -- speed does not
depend on them; ACAM on the 19-class logits) and ``configs/demo/deeplabv3_mimic_streets.py`` (same
teacher), on freshly generated synthetic street scenes (16 train images, 128x256), batch 4. All
three students start from the same weights. Medians of ``--iters`` after ``--warmup``. Goal:
ACAM step / student-alone step <= 1.25; ACAM / (student + teacher forward) shows what ACAM itself
adds on top of the teacher every distillation method pays for.
"""
import argparse
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import warnings

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from densekd.seg.acam import StudentTeacherCrossAttention  # noqa: E402

ARMS = ("stca", "plain")
FULL_SIZES = ((32, 64), (64, 128), (128, 256))
QUICK_SIZES = ((16, 32), (32, 64))
WIDTHS = (19, 256)
GOAL_MAP, GOAL_WIDTH, GOAL_MEMORY = (128, 256), 256, 8.0  # plain / STCA peak at 128x256, C=256
ONE_RUN_ABOVE = 8192  # positions: bigger cases run once, timed in their memory measurement
SMALL_MAP = 2048  # positions: such cases take well under a second, so they get 3x the repeats
MATH_COPIES = 3  # HW x HW matrices a math-path forward + backward holds at once
FUSED = ("flash", "efficient", "cudnn")  # kernel names whose memory grows linearly in HW

ACAM = "configs/demo/deeplabv3_acam_streets.py"
MIMIC = "configs/demo/deeplabv3_mimic_streets.py"
TEACHER = "configs/demo/deeplabv3_teacher_streets.py"
STEP_GOAL = 1.25  # ACAM step / student-alone step


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="maps 16x32 and 32x64 only; 3 step iterations after 1 warm-up")
    parser.add_argument("--repeats", type=int, default=3, help="timed attention steps per case")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-gib", type=float, help="skip an attention case estimated to need more "
                        "(default 12 on CPU, 80%% of the GPU's memory on CUDA)")
    parser.add_argument("--iters", type=int, help="timed training steps (default 15; --quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed training steps first (default 3; --quick 1)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--parts", default="attention,step", help="comma-separated: attention, step")
    args = parser.parse_args(argv)
    if args.iters is None:
        args.iters = 3 if args.quick else 15
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - {"attention", "step"}
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}: use attention and/or step")
    return args


# ================================================================================================
# Part 1: the attention
# ------------------------------------------------------------------------------------------------
# The two arms


def plain_attention(module, teacher, student):
    """softmax(Q K^T / sqrt(C_qk)) V with the same projections as ``module``, written out."""
    n, c, h, w = teacher.shape

    def heads(x):  # (N, C', H, W) -> (N, 1, HW, C'), as STCA lays them out (before its padding)
        return x.flatten(2).transpose(1, 2)[:, None]

    q, k, v = heads(module.q_proj(teacher)), heads(module.k_proj(student)), heads(module.v_proj(student))
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)  # (N, 1, HW, HW)
    return (attn @ v)[:, 0].transpose(1, 2).reshape(n, c, h, w)


def small_repeats(args):
    return 3 * args.repeats


def make_case(h, w, c, device, seed=0):
    torch.manual_seed(seed)
    module = StudentTeacherCrossAttention(c, query="teacher").to(device)
    teacher = torch.randn(1, c, h, w, device=device)
    student = torch.randn(1, c, h, w, device=device, requires_grad=True)
    return module, teacher, student


def forward(arm, module, teacher, student):
    return module(teacher, student) if arm == "stca" else plain_attention(module, teacher, student)


def step(arm, module, teacher, student):
    """One forward + backward; the gradients are dropped afterwards, so each step starts clean."""
    forward(arm, module, teacher, student).sum().backward()
    module.zero_grad(set_to_none=True)
    student.grad = None


def attention_kernels(arm, c, device):
    """The attention kernels the profiler sees in one step of ``arm`` at width ``c`` (8x8 map)."""
    from torch.profiler import ProfilerActivity, profile

    module, teacher, student = make_case(8, 8, c, device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(arm, module, teacher, student)
    names = {e.name for e in prof.events() if "scaled_dot_product" in e.name}
    names.discard("aten::scaled_dot_product_attention")  # the dispatcher, not a kernel
    kernels = sorted(n.replace("aten::_scaled_dot_product_", "") for n in names if not n.endswith("_backward"))
    return kernels or ["explicit matmul + softmax"]


def is_fused(kernels):
    return any(tag in k for k in kernels for tag in FUSED)


def check_agreement(device):
    """STCA and plain agree on a small map: output, and the gradient reaching the student."""
    for c in WIDTHS:
        results = {}
        for arm in ARMS:
            module, teacher, student = make_case(12, 16, c, device, seed=1)
            out = forward(arm, module, teacher, student)
            out.backward(torch.ones_like(out))
            results[arm] = (out.detach(), student.grad)
        for got, ref in zip(results["stca"], results["plain"]):
            torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Memory


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return float("inf")


def cpu_measure(arm, h, w, c):
    """In a fresh process: one step after a tiny warm-up -> dict(peak bytes, seconds, kernels)."""
    kernels = attention_kernels(arm, c, torch.device("cpu"))  # also the warm-up: code paths, threads
    module, teacher, student = make_case(h, w, c, torch.device("cpu"))
    base_rss, base_max = rss_bytes(), max_rss_bytes()
    peak, done = [base_rss], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    step(arm, module, teacher, student)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    growth, after_max = peak[0] - base_rss, max_rss_bytes()
    if after_max > base_max:  # the step raised the process's high-water mark: that is exact
        growth = max(growth, after_max - base_rss)
    return dict(peak=growth, seconds=seconds, kernels=kernels)


def cuda_measure(arm, h, w, c, device):
    module, teacher, student = make_case(h, w, c, device)
    step(arm, module, teacher, student)  # warm-up (cuBLAS workspaces, kernel selection)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    step(arm, module, teacher, student)
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return dict(peak=torch.cuda.max_memory_allocated(device) - before, seconds=seconds,
                kernels=attention_kernels(arm, c, device))


class Measurer:
    """Memory measurements, each in a fresh process on CPU; in this process on CUDA."""

    def __init__(self, device):
        self.device = device
        if device.type == "cpu":
            # processes forked from a server that has imported this script (torch, densekd.seg.acam)
            # but run nothing: no import cost per measurement, no OpenMP state carried across a fork
            self.context = multiprocessing.get_context("forkserver")
            self.context.set_forkserver_preload(["__main__"])

    def __call__(self, arm, h, w, c):
        if self.device.type == "cuda":
            return cuda_measure(arm, h, w, c, self.device)
        with self.context.Pool(1) as pool:
            return pool.apply(cpu_measure, (arm, h, w, c))


# ------------------------------------------------------------------------------------------------
# The attention run


def timed(arm, case, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step(arm, *case)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def math_bytes(hw, c):
    """What a math path holds at least: 3 HW x HW fp32 matrices, plus Q, K, V and their gradients."""
    return MATH_COPIES * hw * hw * 4 + 2 * hw * (2 * max(1, c // 2) + c) * 4


def estimate_peak(arm, hw, c, previous):
    """Bytes a case is expected to need: see the module docstring."""
    analytic = math_bytes(hw, c)
    if arm not in previous:
        return analytic
    prev_hw, prev_bytes, kernels = previous[arm]
    if arm == "stca" and is_fused(kernels):
        return prev_bytes * hw / prev_hw
    scaled = prev_bytes * (hw / prev_hw) ** 2
    return max(scaled, analytic) if arm == "plain" else scaled


def run_width(c, sizes, args, device, measure, limit):
    """Every map at width ``c``: ``{(h, w): {arm: dict(peak, seconds, runs, kernels) | dict(skipped)}}``."""
    results, previous = {}, {}
    for h, w in sizes:
        hw = h * w
        row = {}
        for arm in ARMS:
            estimate = estimate_peak(arm, hw, c, previous)
            if estimate > limit:
                row[arm] = dict(skipped=estimate)
                print(f"  {h}x{w} C={c} {arm}: skipped, needs ~{estimate / 2**30:.1f} GiB", file=sys.stderr,
                      flush=True)
            else:
                print(f"  {h}x{w} C={c} {arm}: memory", file=sys.stderr, flush=True)
                row[arm] = dict(measure(arm, h, w, c), runs=1)
                print(f"    {row[arm]['peak'] / 2**20:.1f} MiB, {row[arm]['seconds']:.2f} s, "
                      f"{', '.join(row[arm]['kernels'])}", file=sys.stderr, flush=True)
            kernels = row[arm].get("kernels") or previous.get(arm, (0, 0, []))[2]
            previous[arm] = (hw, row[arm].get("peak", estimate), kernels)
        ran = [arm for arm in ARMS if "skipped" not in row[arm]]
        if hw <= ONE_RUN_ABOVE and ran:  # interleaved timing in this process
            print(f"  {h}x{w} C={c}: timing", file=sys.stderr, flush=True)
            cases = {arm: make_case(h, w, c, device) for arm in ran}
            times = {arm: [] for arm in ran}
            small = hw <= SMALL_MAP
            repeats, warmup = (small_repeats(args), 3) if small else (args.repeats, 1)
            for i in range(warmup + repeats):
                for arm in ran:
                    t = timed(arm, cases[arm], device)
                    if i >= warmup:  # the first rounds are the warm-up
                        times[arm].append(t)
            del cases
            for arm in ran:
                row[arm].update(seconds=statistics.median(times[arm]), runs=repeats)
        results[(h, w)] = row
    return results


def fmt_ms(r):
    if "skipped" in r:
        return "—"
    return f"{r['seconds'] * 1000:,.1f}" + ("" if r["runs"] > 1 else " (1 run)")


def fmt_mib(r):
    if "skipped" in r:
        return f"skipped: needs ~{r['skipped'] / 2**30:.1f} GiB (estimate)"
    return f"{r['peak'] / 2**20:,.1f}"


def fmt_ratio(a, b, key):
    """a / b; an ``a`` that was skipped enters as its estimate (marked), a skipped ``b`` gives none."""
    if "skipped" in b or not b.get(key):
        return "—"
    if "skipped" in a:
        return f"~{a['skipped'] / b[key]:.0f} (estimate / measured)" if key == "peak" else "—"
    return f"{a[key] / b[key]:.2f}"


def kernels_of(rows, arm):
    return next((r[arm]["kernels"] for r in rows.values() if "kernels" in r[arm]), ["?"])


def memory_goal(results):
    """The goal line: plain / STCA peak at 128x256, C=256 >= 8x."""
    row = results.get(GOAL_WIDTH, {}).get(GOAL_MAP)
    h, w = GOAL_MAP
    where = f"{h}x{w}, C={GOAL_WIDTH}"
    if row is None:
        return f"memory goal ({where}: plain / STCA peak >= {GOAL_MEMORY:.0f}x): not measured in this run"
    stca, plain = row["stca"], row["plain"]
    if "skipped" in stca:
        return f"memory goal ({where}): NOT MET, STCA itself was skipped (needs ~{stca['skipped'] / 2**30:.1f} GiB)"
    if "skipped" in plain:
        bound = h * w * h * w * 4
        ratio = bound / stca["peak"]
        against = (f"plain was skipped (estimated ~{plain['skipped'] / 2**30:.1f} GiB), so against the analytic "
                   f"lower bound, the HW x HW fp32 matrix alone ({bound / 2**30:.0f} GiB)")
    else:
        ratio = plain["peak"] / stca["peak"]
        against = "both measured"
    verdict = "MET" if ratio >= GOAL_MEMORY else "NOT MET"
    return (f"memory goal ({where}: plain / STCA peak >= {GOAL_MEMORY:.0f}x): {verdict}, {ratio:,.0f}x "
            f"(STCA {stca['peak'] / 2**20:,.1f} MiB; {against})")


def attention_table(results, args, device, elapsed):
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} torch threads, " \
        f"load average {os.getloadavg()[0]:.1f} at the end"
    memory = "CUDA allocator peak above the step's start" if device.type == "cuda" else \
        "peak resident-memory growth of a fresh process running the step once"
    lines = [f"Part 1 -- STCA-FF attention. device: {device} ({machine}), torch {torch.__version__}; "
             f"batch 1, fp32, forward + backward; time: median of {args.repeats} after 1 warm-up "
             f"({small_repeats(args)} after 3 up to {SMALL_MAP} positions), "
             f"'1 run' = the memory measurement's single step; "
             f"memory: {memory}; {elapsed:.0f} s", "",
             "| map | positions | C (C_qk) | HW x HW fp32 matrix | STCA ms | plain ms | STCA / plain time "
             "| STCA peak MiB | plain peak MiB | plain / STCA peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in WIDTHS:
        for (h, w), row in results[c].items():
            hw = h * w
            lines.append(f"| {h}x{w} | {hw} | {c} ({max(1, c // 2)}) | {hw * hw * 4 / 2**20:,.0f} MiB "
                         f"| {fmt_ms(row['stca'])} | {fmt_ms(row['plain'])} "
                         f"| {fmt_ratio(row['stca'], row['plain'], 'seconds')} | {fmt_mib(row['stca'])} "
                         f"| {fmt_mib(row['plain'])} | {fmt_ratio(row['plain'], row['stca'], 'peak')} |")
    lines.append("")
    for c in WIDTHS:
        rows = results[c]
        stca, plain = kernels_of(rows, "stca"), kernels_of(rows, "plain")
        kind = "fused, memory O(HW)" if is_fused(stca) else "NOT fused: the HW x HW matrix is materialised"
        lines.append(f"- C={c}: STCA runs `{', '.join(stca)}` on {device.type} ({kind}); "
                     f"plain runs `{', '.join(plain)}`.")
    lines.append(f"- {memory_goal(results)}")
    return "\n".join(lines)


def run_attention(args, device):
    limit = args.max_gib * 2**30
    if device.type == "cpu":
        limit = min(limit, 0.6 * available_bytes())  # never crowd out the machine's other jobs
    check_agreement(device)
    print(f"attention: STCA and plain agree (output and gradient, 12x16 map); skip above "
          f"{limit / 2**30:.1f} GiB", file=sys.stderr, flush=True)
    measure = Measurer(device)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    started = time.perf_counter()
    results = {c: run_width(c, sizes, args, device, measure, limit) for c in WIDTHS}
    return results, attention_table(results, args, device, time.perf_counter() - started)


# ================================================================================================
# Part 2: the training step on the demo pair


def build_step_modules(args, device, tmp):
    from densekd import DistillModule
    from densekd.core.config import load_config
    from densekd.core.data import DataModule
    from densekd.data.street_scenes import make_street_scenes
    from common import NO_GRAD_SHARES

    data_root = os.path.join(tmp, "streets")
    make_street_scenes(data_root, num_train=16, num_val=2, num_test=2, size=(128, 256), seed=0)
    torch.manual_seed(0)
    teacher_ckpt = os.path.join(tmp, "teacher.pth")
    torch.save({"state_dict": DistillModule.from_config(load_config(TEACHER)).student.state_dict()}, teacher_ckpt)
    options = {"train_dataloader.dataset.data_root": data_root + "/",
               "train_dataloader.batch_size": args.batch_size,
               "train_dataloader.num_workers": 0,
               "teacher.checkpoint": teacher_ckpt,
               "train_cfg.grad_share_interval": NO_GRAD_SHARES}
    acam_cfg, mimic_cfg = load_config(ACAM, options), load_config(MIMIC, options)
    plain = DistillModule.from_config(acam_cfg, with_teacher=False)
    acam = DistillModule.from_config(acam_cfg)
    mimic = DistillModule.from_config(mimic_cfg)
    for module in (acam, mimic):  # the same student weights in all three
        module.student.load_state_dict(plain.student.state_dict())
    modules = {name: m.to(device).train() for name, m in
               dict(plain=plain, acam=acam, mimic=mimic).items()}
    batches = iter(DataModule(acam_cfg, splits=("train",)).train_dataloader())
    return modules, batches


def run_step(args, device):
    warnings.filterwarnings("ignore", message=".*self.log.*")  # steps run outside a Trainer here
    for noise in (".*pkg_resources.*", ".*build_loss.*", ".*avg_non_ignore.*"):  # library import chatter
        warnings.filterwarnings("ignore", message=noise)
    with tempfile.TemporaryDirectory() as tmp:
        modules, batches = build_step_modules(args, device, tmp)
        acam = modules["acam"]
        from common import teacher_forward, train_step  # bench/common.py: steps outside a Trainer

        def acam_alone(batch):
            """ACAM's own work: its forward and backward on the features the last ACAM step recorded (the
            batch is not used), free of the step's noise."""
            student = {k: v.detach().requires_grad_() for k, v in acam.student_recorder.records.items()}
            sum(acam.distiller(student, acam.teacher_recorder.records, None).values()).backward()

        phases = {"student-alone step": train_step(modules["plain"]), "teacher forward": teacher_forward(acam),
                  "ACAM step": train_step(acam), "mimic step": train_step(modules["mimic"]),
                  "ACAM alone (forward + backward)": acam_alone}
        names = list(phases)
        times = {name: [] for name in names}
        started = time.perf_counter()
        train_step(acam)(next(batches))  # records for the first "ACAM alone"
        for i in range(args.warmup + args.iters):
            batch = next(batches)  # data loading outside the timings
            for j in range(len(names)):  # interleaved, the first phase rotating
                name = names[(i + j) % len(names)]
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                phases[name](batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - start)
            print(f"  step iteration {i + 1}/{args.warmup + args.iters}", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - started
        logits = acam.teacher_recorder.records[acam.distiller.teacher_features[0]]
        params = {name: sum(p.numel() for p in m.parameters()) / 1e6 for name, m in
                  dict(student=modules["plain"].student, teacher=acam.teacher, acam=acam.distiller,
                       mimic=modules["mimic"].distiller).items()}
    med = {name: statistics.median(t) for name, t in times.items()}
    return med, times, tuple(logits.shape), params, elapsed


def step_table(med, times, logits_shape, params, args, device, elapsed):
    s, t, a, m, own = (med[k] for k in ("student-alone step", "teacher forward", "ACAM step", "mimic step",
                                        "ACAM alone (forward + backward)"))
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} torch threads, " \
        f"load average {os.getloadavg()[0]:.1f} at the end"
    n, c, h, w = logits_shape
    lines = [f"Part 2 -- training step on the demo pair. device: {device} ({machine}); batch {args.batch_size}, "
             f"128x256 crops; {args.iters} timed iterations after {args.warmup} warm-up, interleaved, medians; "
             f"{elapsed:.0f} s. Student {params['student']:.2f} M parameters, teacher {params['teacher']:.2f} M; "
             f"ACAM on the logits, {n} x {c} x {h} x {w} ({h * w} positions), its modules "
             f"{params['acam'] * 1e3:.1f} k parameters (mimic's {params['mimic'] * 1e3:.1f} k)", "",
             "| phase | median ms | min ms | max ms |", "|---|---|---|---|"]
    for name, value in med.items():
        lo, hi = min(times[name]) * 1000, max(times[name]) * 1000
        lines.append(f"| {name} | {value * 1000:.1f} | {lo:.1f} | {hi:.1f} |")
    verdict = "MET" if a / s <= STEP_GOAL else "NOT MET"
    lines += ["", "| ratio | value | note |", "|---|---|---|",
              f"| ACAM step / student-alone step | **{a / s:.2f}** | goal <= {STEP_GOAL}: {verdict} |",
              f"| (student step + teacher forward) / student step | {(s + t) / s:.2f} | the floor of any step "
              f"that runs this teacher; teacher forward alone = {t / s:.2f} x the student step |",
              f"| ACAM step / (student step + teacher forward) | {a / (s + t):.2f} | what ACAM itself adds "
              f"({(a - s - t) * 1000:+.1f} ms) |",
              f"| (student step + teacher forward + ACAM alone) / (student step + teacher forward) | "
              f"{(s + t + own) / (s + t):.3f} | ACAM's own work, timed apart (goal of the ACAM step: <= 1.10) |",
              f"| ACAM step / mimic step | {a / m:.2f} | ACAM vs plain logit mimicking, same teacher |",
              f"| mimic step / (student step + teacher forward) | {m / (s + t):.2f} | reference |"]
    return "\n".join(lines)


# ================================================================================================


def main(argv=None):
    args = parse_args(argv)
    os.chdir(REPO)  # the configs name each other by repository-relative paths
    device = torch.device(args.device)
    if args.max_gib is None:
        args.max_gib = 12.0 if device.type == "cpu" else \
            0.8 * torch.cuda.get_device_properties(device).total_memory / 2**30
    texts, out = [], {}
    if "attention" in args.parts:
        out["attention"], text = run_attention(args, device)
        texts.append(text)
        print(text + "\n", flush=True)
    if "step" in args.parts:
        med, times, logits_shape, params, elapsed = run_step(args, device)
        out["step"] = med
        text = step_table(med, times, logits_shape, params, args, device, elapsed)
        texts.append(text)
        print(text, flush=True)
    return out


if __name__ == "__main__":
    main()

"""ACAM-KD's STCA-FF attention: time and peak memory of one forward + backward against a plain
matmul-softmax attention with an explicit HW x HW matrix.

    python bench/acam_attention.py [--quick] [--device cpu|cuda] [--max-gib 12]

Batch 1, fp32, maps 32x64, 64x128 and 128x256 (``--quick``: 16x32 and 32x64), widths C = 19
(Cityscapes logits, C_qk = 9) and C = 256 (an FPN level, C_qk = 128). Three arms per case, all with
the same 1x1 projections (one ``StudentTeacherCrossAttention``, teacher queries):

- ``STCA``: the module itself (``F.scaled_dot_product_attention`` on its Q, K, V heads, whichever
  kernel torch picks for them);
- ``plain``: ``softmax(Q K^T / sqrt(C_qk)) V`` written out, the HW x HW matrix materialised;
- ``equal heads``: a candidate, NOT what densekd.seg.acam does: Q, K and V zero-padded to one width
  (C rounded up to a multiple of 8), which also makes them contiguous -- torch's fused kernels
  need equal head widths and a unit stride on the last dim; Q K^T is unchanged, the scale is passed
  as 1/sqrt(C_qk) and V's padding channels are cut off the output.

The kernel SDPA dispatches to is read from the profiler, not assumed. Time: the arms interleaved in
this process, medians of ``--repeats`` after one warm-up; a case with more than 8192 positions runs
once, in its memory measurement's process. Peak memory: on CUDA the allocator's peak over what was
allocated before the step; on CPU (torch keeps no CPU allocator statistics) the peak resident-memory
growth of a fresh process (forked from a server that has only imported the code) while it runs the
step once after a tiny warm-up: ``ru_maxrss`` against the resident size before the step, and a
thread sampling the resident size every 0.5 ms, whichever is larger. A case runs only if its
estimated peak -- the previous map's measured peak times the square of the position ratio (what a
HW x HW path needs; 3 matrices for the first map) -- is at most ``--max-gib``; otherwise it is
recorded as skipped. The script first checks that the three arms agree on a small map.
"""
import argparse
import math
import multiprocessing
import os
import resource
import statistics
import sys
import threading
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from densekd.seg.acam import StudentTeacherCrossAttention  # noqa: E402

ARMS = ("stca", "plain", "equal")
FULL_SIZES = ((32, 64), (64, 128), (128, 256))
QUICK_SIZES = ((16, 32), (32, 64))
WIDTHS = (19, 256)
ONE_RUN_ABOVE = 8192  # positions: bigger cases run once, timed in their memory measurement
MATH_COPIES = 3  # HW x HW matrices a math-path forward + backward holds at once (first-map estimate)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="maps 16x32 and 32x64 only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-gib", type=float, help="skip a case estimated to need more "
                        "(default 12 on CPU, 80%% of the GPU's memory on CUDA)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# The three arms


def projections(module, teacher, student):
    """Q from the teacher, K and V from the student, as (N, 1, HW, width) heads (STCA's layout)."""
    def heads(x):
        return x.flatten(2).transpose(1, 2)[:, None]
    return heads(module.q_proj(teacher)), heads(module.k_proj(student)), heads(module.v_proj(student))


def plain_attention(module, teacher, student):
    n, c, h, w = teacher.shape
    q, k, v = projections(module, teacher, student)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)  # (N, 1, HW, HW)
    return (attn @ v)[:, 0].transpose(1, 2).reshape(n, c, h, w)


def equal_heads_attention(module, teacher, student):
    n, c, h, w = teacher.shape
    q, k, v = projections(module, teacher, student)
    width = -(-c // 8) * 8
    q, k, v = (F.pad(x, (0, width - x.shape[-1])).contiguous() for x in (q, k, v))  # zero channels
    out = F.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(module.q_proj.out_channels))
    return out[:, 0, :, :c].transpose(1, 2).reshape(n, c, h, w)


def make_case(h, w, c, device, seed=0):
    torch.manual_seed(seed)
    module = StudentTeacherCrossAttention(c, query="teacher").to(device)
    teacher = torch.randn(1, c, h, w, device=device)
    student = torch.randn(1, c, h, w, device=device, requires_grad=True)
    return module, teacher, student


def forward(arm, module, teacher, student):
    if arm == "stca":
        return module(teacher, student)
    return (plain_attention if arm == "plain" else equal_heads_attention)(module, teacher, student)


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


def check_agreement(device):
    for c in WIDTHS:
        module, teacher, student = make_case(12, 16, c, device, seed=1)
        with torch.no_grad():
            ref = forward("plain", module, teacher, student)
            for arm in ("stca", "equal"):
                torch.testing.assert_close(forward(arm, module, teacher, student), ref, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Memory


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
            # processes forked from a server that has imported this script (torch, densekd) but run
            # nothing: no import cost per measurement, and no OpenMP state carried across a fork
            self.context = multiprocessing.get_context("forkserver")
            self.context.set_forkserver_preload(["__main__"])

    def __call__(self, arm, h, w, c):
        if self.device.type == "cuda":
            return cuda_measure(arm, h, w, c, self.device)
        with self.context.Pool(1) as pool:
            return pool.apply(cpu_measure, (arm, h, w, c))


# ------------------------------------------------------------------------------------------------
# The run


def timed(arm, case, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step(arm, *case)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def run_width(c, sizes, args, device, measure):
    """Every map at width ``c``: ``{(h, w): {arm: dict(peak, seconds, runs, kernels) | dict(skipped)}}``."""
    results, previous = {}, {}
    limit = args.max_gib * 2**30
    for h, w in sizes:
        hw = h * w
        row = {}
        for arm in ARMS:
            if arm in previous:
                prev_hw, prev_bytes = previous[arm]
                estimate = prev_bytes * (hw / prev_hw) ** 2
            else:
                estimate = MATH_COPIES * hw * hw * 4
            if estimate > limit:
                row[arm] = dict(skipped=estimate)
            else:
                print(f"  {h}x{w} C={c} {arm}: memory", file=sys.stderr, flush=True)
                row[arm] = dict(measure(arm, h, w, c), runs=1)
            previous[arm] = (hw, row[arm].get("peak", estimate))
        ran = [arm for arm in ARMS if "skipped" not in row[arm]]
        if hw <= ONE_RUN_ABOVE and ran:  # interleaved timing in this process
            print(f"  {h}x{w} C={c}: timing", file=sys.stderr, flush=True)
            cases = {arm: make_case(h, w, c, device) for arm in ran}
            times = {arm: [] for arm in ran}
            for i in range(args.repeats + 1):
                for arm in ran:
                    t = timed(arm, cases[arm], device)
                    if i:  # the first round is the warm-up
                        times[arm].append(t)
            del cases
            for arm in ran:
                row[arm].update(seconds=statistics.median(times[arm]), runs=args.repeats)
        results[(h, w)] = row
    return results


def fmt_ms(r):
    if "skipped" in r:
        return "—"
    return f"{r['seconds'] * 1000:.1f}" + ("" if r["runs"] > 1 else " (1 run)")


def fmt_mib(r):
    if "skipped" in r:
        return f"skipped: needs ~{r['skipped'] / 2**30:.1f} GiB"
    return f"{r['peak'] / 2**20:.1f}"


def fmt_ratio(a, b, key):
    """a / b; a peak that was skipped enters as its estimate (marked), a skipped b gives no ratio."""
    if "skipped" in b or not b.get(key):
        return "—"
    if "skipped" in a:
        return f"~{a['skipped'] / b[key]:.0f} (estimate / measured)" if key == "peak" else "—"
    return f"{a[key] / b[key]:.2f}"


def verdict(row_by_size):
    """Is STCA's SDPA memory-efficient? Judged on the largest map where STCA and plain both ran."""
    both = [(h * w, row) for (h, w), row in row_by_size.items()
            if "skipped" not in row["stca"] and "skipped" not in row["plain"]]
    if not both:
        return "not judged (no map where both ran)"
    _, row = max(both, key=lambda x: x[0])
    if row["stca"]["peak"] < 0.5 * row["plain"]["peak"]:
        return "memory-efficient (peak well under the plain attention's)"
    return "NOT memory-efficient: its peak is the plain attention's, it holds the HW x HW matrix"


def table(results, args, device, elapsed):
    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} torch threads, " \
        f"load average {os.getloadavg()[0]:.1f} at the end"
    memory = "CUDA allocator peak above the step's start" if device.type == "cuda" else \
        "peak resident-memory growth of a fresh process running the step once"
    lines = [f"device: {device} ({machine}), torch {torch.__version__}; batch 1, fp32, forward + backward; "
             f"time: median of {args.repeats} after 1 warm-up unless marked; memory: {memory}; "
             f"{elapsed:.0f} s", "",
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
    lines += ["", "Candidate, not in densekd: q, k, v zero-padded to one width (C rounded up to a multiple "
              "of 8; contiguous), scale 1/sqrt(C_qk).", "",
              "| map | C | equal-heads ms | equal-heads / STCA time | equal-heads peak MiB | STCA / equal-heads peak |",
              "|---|---|---|---|---|---|"]
    for c in WIDTHS:
        for (h, w), row in results[c].items():
            lines.append(f"| {h}x{w} | {c} | {fmt_ms(row['equal'])} "
                         f"| {fmt_ratio(row['equal'], row['stca'], 'seconds')} | {fmt_mib(row['equal'])} "
                         f"| {fmt_ratio(row['stca'], row['equal'], 'peak')} |")
    lines.append("")
    for c in WIDTHS:
        rows = results[c]
        kernels = {arm: next((r[arm]["kernels"] for r in rows.values() if "kernels" in r[arm]), ["?"])
                   for arm in ("stca", "equal")}
        lines.append(f"- C={c}: STCA's SDPA runs `{', '.join(kernels['stca'])}` on {device.type}: {verdict(rows)}; "
                     f"with equal heads it runs `{', '.join(kernels['equal'])}`.")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.max_gib is None:
        args.max_gib = 12.0 if device.type == "cpu" else \
            0.8 * torch.cuda.get_device_properties(device).total_memory / 2**30
    check_agreement(device)
    measure = Measurer(device)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    started = time.perf_counter()
    results = {c: run_width(c, sizes, args, device, measure) for c in WIDTHS}
    text = table(results, args, device, time.perf_counter() - started)
    print(text)
    return results


if __name__ == "__main__":
    main()

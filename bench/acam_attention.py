"""ACAM-KD's STCA-FF attention: time and peak memory of one forward + backward against a plain
matmul-softmax attention with an explicit HW x HW matrix.

    python bench/acam_attention.py [--quick] [--device cpu|cuda] [--max-gib 12]

Batch 1, maps 32x64, 64x128 and 128x256 (``--quick``: 16x32 and 32x64), widths C = 19 (Cityscapes
logits, C_qk = 9) and C = 256 (an FPN level, C_qk = 128). Three arms per case, all with the same
1x1 projections (one ``StudentTeacherCrossAttention``, teacher queries):

- ``STCA``: the module itself (``F.scaled_dot_product_attention``, whichever kernel torch picks);
- ``plain``: ``softmax(Q K^T / sqrt(C_qk)) V`` written out, the HW x HW matrix materialised;
- ``STCA, q/k zero-padded to C``: a candidate, NOT what densekd.seg.acam does: Q and K padded with
  zero channels to V's width (Q K^T unchanged, the scale passed explicitly), so that all three heads
  have equal widths, which torch's fused kernels require.

The kernel torch's SDPA actually dispatches to is read from the profiler, not assumed. Timing: the
arms interleaved in this process, medians of ``--repeats`` after one warm-up; a case whose attention
has more than 8192 positions is run once, in the memory measurement's process. Peak memory: on
CUDA the allocator's peak over what was allocated before the step; on CPU (torch keeps no CPU
allocator statistics) the peak resident-memory growth of a fresh process while it runs the step
once, after a tiny warm-up: ``ru_maxrss`` against the resident size before the step, and a thread
sampling the resident size every 0.5 ms (the larger of the two). A case runs only if its estimated
peak -- the previous map's measured peak times the square of the position ratio, what a HW x HW path
needs; 3 matrices for the first map -- is at most ``--max-gib``; otherwise it is recorded as
skipped. Checks first that the three arms agree on a small map.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from densekd.seg.acam import StudentTeacherCrossAttention  # noqa: E402

ARMS = ("stca", "plain", "padded")
ARM_NAMES = {"stca": "STCA", "plain": "plain", "padded": "STCA, q/k zero-padded to C"}
FULL_SIZES = ((32, 64), (64, 128), (128, 256))
QUICK_SIZES = ((16, 32), (32, 64))
WIDTHS = (19, 256)
ONE_RUN_ABOVE = 8192  # positions: bigger cases are run once, timed in the memory process
MATH_COPIES = 3  # HW x HW matrices a math-path forward + backward holds at once (first-map estimate)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="maps 16x32 and 32x64 only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-gib", type=float, default=12.0, help="skip a case estimated to need more")
    parser.add_argument("--only", nargs=4, metavar=("ARM", "H", "W", "C"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------
# The three arms


def projections(module, teacher, student):
    """Q from the teacher, K and V from the student, as (N, 1, HW, width) heads."""
    def heads(x):
        return x.flatten(2).transpose(1, 2)[:, None]
    return heads(module.q_proj(teacher)), heads(module.k_proj(student)), heads(module.v_proj(student))


def plain_attention(module, teacher, student):
    n, c, h, w = teacher.shape
    q, k, v = projections(module, teacher, student)
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)  # (N, 1, HW, HW)
    return (attn @ v)[:, 0].transpose(1, 2).reshape(n, c, h, w)


def padded_attention(module, teacher, student):
    """The candidate: q, k, v zero-padded to one width D (C rounded up to a multiple of 8), which
    also makes them contiguous; Q K^T is unchanged, the scale stays 1/sqrt(C_qk), V's padding
    channels come out as zeros and are cut off."""
    n, c, h, w = teacher.shape
    q, k, v = projections(module, teacher, student)
    width = -(-c // 8) * 8
    q, k, v = (F.pad(x, (0, width - x.shape[-1])) for x in (q, k, v))
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
    return (plain_attention if arm == "plain" else padded_attention)(module, teacher, student)


def step(arm, module, teacher, student):
    """One forward + backward; gradients are dropped afterwards so that the next step starts clean."""
    forward(arm, module, teacher, student).sum().backward()
    module.zero_grad(set_to_none=True)
    student.grad = None


def sdpa_ops(arm, c, device):
    """The attention kernels the profiler sees for ``arm`` at width ``c`` (on an 8x8 map)."""
    from torch.profiler import ProfilerActivity, profile

    module, teacher, student = make_case(8, 8, c, device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(arm, module, teacher, student)
    names = {e.name for e in prof.events() if "scaled_dot_product" in e.name or "attention" in e.name}
    names.discard("aten::scaled_dot_product_attention")  # the dispatcher, not a kernel
    return sorted(n.replace("aten::_scaled_dot_product_", "") for n in names) or ["explicit matmul + softmax"]


def check_agreement(device):
    for c in WIDTHS:
        module, teacher, student = make_case(12, 16, c, device, seed=1)
        with torch.no_grad():
            ref = forward("plain", module, teacher, student)
            for arm in ("stca", "padded"):
                torch.testing.assert_close(forward(arm, module, teacher, student), ref, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Memory


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_peak_in_this_process(arm, h, w, c):
    """Run one step after a tiny warm-up; return (peak resident growth in bytes, seconds, kernels)."""
    ops = sdpa_ops(arm, c, torch.device("cpu"))  # also the warm-up: code paths, thread pool
    module, teacher, student = make_case(h, w, c, torch.device("cpu"))
    base_rss, base_max = rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
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
    after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    growth = peak[0] - base_rss
    if after_max > base_max:  # the step raised the high-water mark: exact
        growth = max(growth, after_max - base_rss)
    return growth, seconds, ops


def cpu_peak(arm, h, w, c):
    """``cpu_peak_in_this_process`` in a fresh process (resident memory never shrinks back)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--device", "cpu", "--only", arm, str(h), str(w), str(c)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cuda_peak(arm, h, w, c, device):
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
                ops=sdpa_ops(arm, c, device))


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


def run_width(c, sizes, args, device):
    """Every map at width ``c``: ``{(h, w): {arm: dict(peak, seconds, ops) or dict(skipped=bytes)}}``."""
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
                previous[arm] = (hw, estimate)
                continue
            print(f"  {h}x{w} C={c} {ARM_NAMES[arm]}: memory ...", file=sys.stderr, flush=True)
            row[arm] = cpu_peak(arm, h, w, c) if device.type == "cpu" else cuda_peak(arm, h, w, c, device)
            previous[arm] = (hw, row[arm]["peak"])
        ran = [arm for arm in ARMS if "skipped" not in row[arm]]
        if hw <= ONE_RUN_ABOVE and ran:  # interleaved timing in this process
            print(f"  {h}x{w} C={c}: timing {args.repeats} + 1 ...", file=sys.stderr, flush=True)
            cases = {arm: make_case(h, w, c, device) for arm in ran}
            times = {arm: [] for arm in ran}
            for i in range(args.repeats + 1):
                for arm in ran:
                    t = timed(arm, cases[arm], device)
                    if i:
                        times[arm].append(t)
            del cases
            for arm in ran:
                row[arm]["seconds"] = statistics.median(times[arm])
                row[arm]["runs"] = args.repeats
        else:
            for arm in ran:
                row[arm]["runs"] = 1
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


def ratio(a, b, key):
    if "skipped" in a or "skipped" in b or not b[key]:
        return "—"
    return f"{a[key] / b[key]:.2f}"


def memory_efficient(stca, plain):
    """Does STCA's SDPA avoid the HW x HW matrix? Judged on the largest case where both arms ran."""
    both = [(k, stca[k], plain[k]) for k in stca if "skipped" not in stca[k] and "skipped" not in plain[k]]
    if not both:
        return None
    _, s, p = max(both, key=lambda x: x[0][0] * x[0][1])
    return s["peak"] < 0.5 * p["peak"]


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.only:  # internal: one CPU memory measurement in a fresh process
        arm, h, w, c = args.only[0], *map(int, args.only[1:])
        peak, seconds, ops = cpu_peak_in_this_process(arm, h, w, c)
        print(json.dumps(dict(peak=peak, seconds=seconds, ops=ops)))
        return None
    if device.type == "cuda" and args.max_gib == 12.0:
        args.max_gib = 0.8 * torch.cuda.get_device_properties(device).total_memory / 2**30
    check_agreement(device)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    started = time.perf_counter()
    results = {c: run_width(c, sizes, args, device) for c in WIDTHS}
    elapsed = time.perf_counter() - started

    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} torch threads"
    memory = "CUDA allocator peak over the step's start" if device.type == "cuda" else \
        "peak resident-memory growth of a fresh process running the step once"
    lines = [f"device: {device} ({machine}), torch {torch.__version__}; batch 1, fp32, forward + backward; "
             f"time: median of {args.repeats} after 1 warm-up unless marked; memory: {memory}; "
             f"{elapsed:.0f} s", ""]
    lines += ["| map | positions | C (C_qk) | HW x HW fp32 matrix | STCA ms | plain ms | STCA / plain time "
              "| STCA peak MiB | plain peak MiB | plain / STCA peak |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in WIDTHS:
        for (h, w), row in results[c].items():
            hw = h * w
            lines.append(f"| {h}x{w} | {hw} | {c} ({max(1, c // 2)}) | {hw * hw * 4 / 2**20:.0f} MiB "
                         f"| {fmt_ms(row['stca'])} | {fmt_ms(row['plain'])} | {ratio(row['stca'], row['plain'], 'seconds')} "
                         f"| {fmt_mib(row['stca'])} | {fmt_mib(row['plain'])} | {ratio(row['plain'], row['stca'], 'peak')} |")
    lines += ["", "Candidate (not in densekd): Q and K zero-padded to C so that q, k, v widths are equal.", "",
              "| map | C | padded ms | padded / STCA time | padded peak MiB | STCA / padded peak |",
              "|---|---|---|---|---|---|"]
    for c in WIDTHS:
        for (h, w), row in results[c].items():
            lines.append(f"| {h}x{w} | {c} | {fmt_ms(row['padded'])} | {ratio(row['padded'], row['stca'], 'seconds')} "
                         f"| {fmt_mib(row['padded'])} | {ratio(row['stca'], row['padded'], 'peak')} |")
    lines.append("")
    for c in WIDTHS:
        first = next(r for r in results[c].values() if "ops" in r["stca"])
        padded = next((r for r in results[c].values() if "ops" in r["padded"]), None)
        verdict = memory_efficient({k: r["stca"] for k, r in results[c].items()},
                                   {k: r["plain"] for k, r in results[c].items()})
        text = {True: "memory-efficient (peak well under the plain attention's)",
                False: "NOT memory-efficient: it materialises the HW x HW matrix like the plain attention",
                None: "not judged (no case where both ran)"}[verdict]
        lines.append(f"- C={c}: STCA's SDPA runs {', '.join(first['stca']['ops'])} on {device.type}: {text}"
                     + (f"; zero-padded q/k runs {', '.join(padded['padded']['ops'])}" if padded else ""))
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()

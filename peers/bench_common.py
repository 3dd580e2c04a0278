"""Shared by the peer runners (torch_runner.py, ort_runner.py): kiln bench's timing loop, statistics and
kiln.bench/1 JSON (docs/BENCH_JSON.md), re-implemented in plain Python so a peer's numbers mean exactly
what kiln's do. Standard library only: the runners import torch / onnxruntime themselves.
"""

import argparse
import ctypes
import json
import math
import os
import platform
import resource
import shlex
import socket
import sys
import threading
import time
from datetime import datetime, timezone

SCHEMA = "kiln.bench/1"
EXIT_USAGE, EXIT_INPUT, EXIT_UNSUPPORTED, EXIT_ACCURACY, EXIT_RUNTIME = 1, 2, 3, 4, 5


def die(tool, code, message):
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(code)


# ---- statistics (the same definitions as src/bench/stats.cc) ------------------------------------------

def percentile_sorted(s, p):
    """Linear interpolation between closest ranks (NumPy's default, Hyndman-Fan type 7)."""
    h = (len(s) - 1) * p / 100.0
    lo = int(math.floor(h))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def median_ci_ranks(n, level=0.95):
    """1-based ranks [l, n+1-l] of the distribution-free CI of the median, or None when n is too small."""
    if n <= 0:
        return None
    tail = (1.0 - level) / 2.0
    log_half_n = n * math.log(0.5)
    cdf, l = 0.0, 0
    while l + 1 <= (n + 1) // 2:
        pmf = math.exp(math.lgamma(n + 1) - math.lgamma(l + 1) - math.lgamma(n - l + 1) + log_half_n)
        if cdf + pmf > tail + 1e-12:
            break
        cdf += pmf
        l += 1
    if l == 0:
        return None
    return l, n + 1 - l, 1.0 - 2.0 * cdf


def stats_json(samples, percentiles):
    s = sorted(samples)
    n = len(s)
    mean = sum(s) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    j = {"count": n, "min": s[0], "max": s[-1], "mean": mean, "median": percentile_sorted(s, 50), "std": std,
         "percentiles": {f"p{p:g}": percentile_sorted(s, p) for p in percentiles}}
    ci = median_ci_ranks(n)
    if ci:
        j["median_ci95"] = {"low": s[ci[0] - 1], "high": s[ci[1] - 1], "lower_rank": ci[0], "upper_rank": ci[1],
                            "coverage": ci[2], "method": "order statistics (binomial, distribution-free)"}
    else:
        j["median_ci95"] = {"low": None, "high": None, "reason": "fewer than 6 samples"}
    q1, q3 = percentile_sorted(s, 25), percentile_sorted(s, 75)
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    j["outliers"] = {"method": "Tukey fences 1.5 IQR", "q1": q1, "q3": q3, "fence_low": lo, "fence_high": hi,
                     "low": sum(v < lo for v in s), "high": sum(v > hi for v in s), "removed": False}
    return j


def group_means(samples, k):
    return [sum(samples[i:i + k]) / len(samples[i:i + k]) for i in range(0, len(samples), k)]


def spread_warning(st, ratio=1.5):
    p99 = st["percentiles"].get("p99")
    label = "p99"
    if p99 is None:
        p99, label = st["max"], "max"
    if st["median"] <= 0 or p99 / st["median"] <= ratio:
        return None
    return (f"large spread: {label} / median = {p99 / st['median']:.2f} (> {ratio:.1f}); the system is noisy, "
            "trust the median and its confidence interval")


# ---- the timing loop (src/bench/runner.cc semantics) ------------------------------------------------------

def rolling_median_settled(values, window, tolerance):
    if len(values) < 2 * window:
        return False
    now = percentile_sorted(sorted(values[-window:]), 50)
    before = percentile_sorted(sorted(values[-2 * window:-window]), 50)
    if before <= 0:
        return now <= 0
    return abs(now - before) / before < tolerance


def run_timed(step, warmup_ms, iterations, duration_s, window=10, tolerance=0.02):
    """step(i) runs one inference and returns (latency_ms, host_ms). Warm-up runs for warmup_ms, then until
    the rolling median settles (capped at warmup_ms + max(1 s, 5 x warmup_ms)); then at least `iterations`
    timed iterations lasting at least `duration_s`."""
    warm = {"iterations": 0, "ms": 0.0, "settled": False, "last_median_ms": 0.0}
    if warmup_ms > 0:
        cap = warmup_ms + max(1000.0, 5 * warmup_ms)
        lat = []
        t0 = time.perf_counter()
        while True:
            lat.append(step(-len(lat) - 1)[0])  # negative: warm-up iteration k is -(k+1)
            elapsed = (time.perf_counter() - t0) * 1e3
            if elapsed < warmup_ms:
                continue
            warm["settled"] = rolling_median_settled(lat, window, tolerance)
            if warm["settled"] or elapsed >= cap:
                break
        warm["iterations"] = len(lat)
        warm["ms"] = (time.perf_counter() - t0) * 1e3
        warm["last_median_ms"] = percentile_sorted(sorted(lat[-window:]), 50)
    before = process_snapshot()
    origin = time.perf_counter()
    end = origin
    times = []
    i = 0
    while i < iterations or (end - origin) * 1e3 < duration_s * 1e3:
        start = time.perf_counter()
        latency, host = step(i)
        end = time.perf_counter()
        times.append({"start_ms": (start - origin) * 1e3, "latency_ms": latency, "host_ms": host})
        i += 1
    after = process_snapshot()
    return {"warmup": warm, "times": times, "wall_s": end - origin, "origin": origin,
            "process": process_usage(before, after)}


# ---- process and environment ------------------------------------------------------------------------------

def _vm_hwm_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_snapshot():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": r.ru_utime, "system": r.ru_stime, "wall": time.perf_counter(), "hwm": _vm_hwm_bytes()}


def process_usage(b, a):
    wall = a["wall"] - b["wall"]
    cpu = (a["user"] - b["user"]) + (a["system"] - b["system"])
    pct = 100.0 * cpu / wall if wall > 0 else 0.0
    cores = os.cpu_count() or 1
    return {"cpu_user_s": a["user"] - b["user"], "cpu_system_s": a["system"] - b["system"],
            "cpu_utilisation_percent": pct, "cpu_utilisation_machine_percent": pct / cores,
            "peak_rss_bytes": a["hwm"]}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def environment(versions):
    u = platform.uname()
    return {"host": socket.gethostname(), "os": f"{u.system} {u.release} {u.machine}",
            "cpu": {"model": cpu_model(), "cores": os.cpu_count()},
            "kiln": {"version": None, "git_sha": None},
            "command_line": shlex.join([sys.executable] + sys.argv),
            "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "backend_versions": versions,
            "python": platform.python_version()}


# ---- NVML through ctypes (the same fields as src/bench/nvml.cc; null when absent) ---------------------------

class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class _Util(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


SERIES = ["memory_used_bytes", "utilisation_gpu_percent", "utilisation_memory_percent", "sm_clock_mhz",
          "memory_clock_mhz", "power_w", "temperature_c"]


class Nvml:
    def __init__(self, index=0):
        self.available, self.why, self.name, self.driver, self.total = False, None, None, None, None
        self.lib = self.dev = None
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
        except OSError as e:
            self.why = f"NVML not found: {e}"
            return
        dev = ctypes.c_void_p()
        if lib.nvmlInit_v2() != 0 or lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(dev)) != 0:
            self.why = "NVML present but nvmlInit_v2 / nvmlDeviceGetHandleByIndex_v2 failed (no GPU?)"
            return
        self.lib, self.dev, self.available = lib, dev, True
        buf = ctypes.create_string_buffer(96)
        if lib.nvmlDeviceGetName(dev, buf, 96) == 0:
            self.name = buf.value.decode()
        if lib.nvmlSystemGetDriverVersion(buf, 96) == 0:
            self.driver = buf.value.decode()
        mem = _Memory()
        if lib.nvmlDeviceGetMemoryInfo(dev, ctypes.byref(mem)) == 0:
            self.total = mem.total

    def _call(self, name, *args):
        """0 on success; a symbol this driver's NVML lacks counts as a failure (the field stays null)."""
        fn = getattr(self.lib, name, None)
        return fn(self.dev, *args) if fn is not None else -1

    def sample(self, t_ms):
        s = {"t_ms": t_ms, **{k: None for k in SERIES}, "throttle_reasons": None}
        mem, util, v, ull = _Memory(), _Util(), ctypes.c_uint(), ctypes.c_ulonglong()
        if self._call("nvmlDeviceGetMemoryInfo", ctypes.byref(mem)) == 0:
            s["memory_used_bytes"] = mem.used
        if self._call("nvmlDeviceGetUtilizationRates", ctypes.byref(util)) == 0:
            s["utilisation_gpu_percent"], s["utilisation_memory_percent"] = util.gpu, util.memory
        if self._call("nvmlDeviceGetClockInfo", 1, ctypes.byref(v)) == 0:  # NVML_CLOCK_SM
            s["sm_clock_mhz"] = v.value
        if self._call("nvmlDeviceGetClockInfo", 2, ctypes.byref(v)) == 0:  # NVML_CLOCK_MEM
            s["memory_clock_mhz"] = v.value
        if self._call("nvmlDeviceGetPowerUsage", ctypes.byref(v)) == 0:
            s["power_w"] = v.value / 1000.0
        if self._call("nvmlDeviceGetTemperature", 0, ctypes.byref(v)) == 0:  # NVML_TEMPERATURE_GPU
            s["temperature_c"] = v.value
        if self._call("nvmlDeviceGetCurrentClocksThrottleReasons", ctypes.byref(ull)) == 0:
            s["throttle_reasons"] = ull.value
        return s


class GpuSampler:
    """Samples NVML every period_ms on a thread, like src/bench/nvml.cc's GpuSampler."""

    def __init__(self, nvml, period_ms=100):
        self.nvml, self.period, self.samples, self.started = nvml, period_ms / 1e3, [], time.perf_counter()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.started = time.perf_counter()
        if self.nvml.available:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            self.samples.append(self.nvml.sample((time.perf_counter() - self.started) * 1e3))
            self._stop.wait(self.period)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()


THROTTLE_BITS = {0x4: "software power cap", 0x20: "software thermal slowdown", 0x40: "hardware thermal slowdown",
                 0x8: "hardware slowdown", 0x80: "hardware power brake"}


def gpu_json(nvml, sampler, origin):
    g = {"available": nvml.available, "reason": None if nvml.available else nvml.why, "name": nvml.name,
         "driver_version": nvml.driver, "memory_total_bytes": nvml.total,
         "sample_period_ms": 100 if nvml.available else None,
         "timed_start_ms": (origin - sampler.started) * 1e3 if nvml.available else None}
    summary = {}
    for k in SERIES:
        vals = [s[k] for s in sampler.samples if s[k] is not None]
        summary[k] = {"mean": sum(vals) / len(vals), "max": max(vals)} if vals else {"mean": None, "max": None}
    g["summary"] = summary if nvml.available else None
    g["samples"] = sampler.samples
    return g


def throttle_warning(samples):
    seen = set()
    for s in samples:
        for bit, name in THROTTLE_BITS.items():
            if s["throttle_reasons"] and s["throttle_reasons"] & bit:
                seen.add(name)
    if not seen:
        return None
    return f"GPU clocks throttled ({', '.join(sorted(seen))}) in some samples: numbers may be lower than sustained"


# ---- command line and the document ---------------------------------------------------------------------------

def common_args(p):
    p.add_argument("--batches", default="", help="batch sizes, e.g. 1,8,32 (default: the model's batch or 1)")
    p.add_argument("--shape", default="", help="input dims after the batch, e.g. 3x224x224 (default: the model's)")
    p.add_argument("--random-batch", default="", metavar="MIN:MAX",
                   help="dynamic study: a seeded random batch in [MIN, MAX] for every iteration")
    p.add_argument("--warmUp", type=float, default=200, help="warm-up ms (then until the rolling median settles)")
    p.add_argument("--iterations", type=int, default=10, help="minimum timed iterations")
    p.add_argument("--duration", type=float, default=3, help="minimum timed seconds")
    p.add_argument("--avgRuns", type=int, default=1, help="also report statistics of means of K runs")
    p.add_argument("--percentile", default="90,95,99", help="latency percentiles")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and random batches")
    p.add_argument("--json", required=True, metavar="FILE", help="write the kiln.bench/1 document here")
    p.add_argument("--label", default="", help="the case's backend label (default: the runner's)")


def parse_list(tool, text, kind, flag):
    if not text:
        return []
    try:
        vals = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        die(tool, EXIT_USAGE, f"{flag} '{text}' is not a comma-separated list of numbers (e.g. 1,8,32)")
    return vals


def check_common(tool, a):
    if a.warmUp < 0 or a.iterations < 1 or a.duration < 0 or a.avgRuns < 1:
        die(tool, EXIT_USAGE, "--warmUp >= 0, --iterations >= 1, --duration >= 0 and --avgRuns >= 1 are required")
    a.batch_list = parse_list(tool, a.batches, int, "--batches")
    a.percentile_list = parse_list(tool, a.percentile, float, "--percentile")
    if any(b < 1 for b in a.batch_list) or any(not 0 <= p <= 100 for p in a.percentile_list):
        die(tool, EXIT_USAGE, "batches must be >= 1 and percentiles in [0, 100]")
    a.random_range = None
    if a.random_batch:
        try:
            lo, hi = (int(x) for x in a.random_batch.split(":"))
        except ValueError:
            die(tool, EXIT_USAGE, f"--random-batch '{a.random_batch}' must be MIN:MAX (e.g. 1:16)")
        if lo < 1 or hi < lo:
            die(tool, EXIT_USAGE, f"--random-batch {lo}:{hi}: need 1 <= MIN <= MAX")
        a.random_range = (lo, hi)
    a.dims = []
    if a.shape:
        try:
            a.dims = [int(x) for x in a.shape.lower().split("x")]
        except ValueError:
            die(tool, EXIT_USAGE, f"--shape '{a.shape}' must be dims after the batch, e.g. 3x224x224")


def make_case(run, args, backend, precision, mode, batch, input_shapes, nvml, sampler, extra=None):
    lat = [t["latency_ms"] for t in run["times"]]
    st = stats_json(lat, args.percentile_list)
    samples_done = run.get("samples_done", batch * len(lat))
    c = {"backend": backend, "precision": precision, "mode": mode, "batch": batch, "input_shapes": input_shapes,
         "warmup": run["warmup"], "iterations": len(lat), "wall_s": run["wall_s"],
         "throughput": {"inferences_per_s": len(lat) / run["wall_s"] if run["wall_s"] > 0 else 0,
                        "samples_per_s": samples_done / run["wall_s"] if run["wall_s"] > 0 else 0},
         "latency_ms": st, "avg_runs": args.avgRuns,
         "latency_ms_averaged": stats_json(group_means(lat, args.avgRuns), args.percentile_list)
         if args.avgRuns > 1 else None,
         "host_latency_ms": stats_json([t["host_ms"] for t in run["times"]], args.percentile_list),
         "latency_samples_ms": lat, "process": run["process"], "gpu": gpu_json(nvml, sampler, run["origin"]),
         "warnings": []}
    c.update(extra or {})
    for w in (spread_warning(st), throttle_warning(sampler.samples)):
        if w:
            c["warnings"].append(w)
    w = run["warmup"]
    if args.warmUp > 0 and not w["settled"]:
        c["warnings"].append(f"warm-up did not settle after {w['ms']:.0f} ms ({w['iterations']} iterations); "
                             "raise --warmUp")
    return c


def write_document(tool, path, model, options, versions, cases):
    doc = {"schema": SCHEMA, "model": model, "options": options, "environment": environment(versions),
           "cases": cases}
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        die(tool, EXIT_RUNTIME, f"cannot write '{path}': {e}")
    print(f"{tool}: results written to {path}")


def print_case(tool, c):
    st = c["latency_ms"]
    print(f"{tool}: {c['backend']} {c['precision']} {c['mode']} batch {c['batch']}: median {st['median']:.4g} ms, "
          f"mean {st['mean']:.4g} ms, max {st['max']:.4g} ms over {st['count']} iterations; "
          f"{c['throughput']['samples_per_s']:.4g} samples/s", flush=True)


def base_parser(description):
    return argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)

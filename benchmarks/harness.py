"""A small timing harness shared by the benchmark suites.

Method (see benchmarks/RESULTS.md for what the numbers mean):

- ``round_robin(contenders, warmup, repeats)``: every contender runs once per
  round, in turn, after a 5 ms pause, with the garbage collector run once before
  and disabled during the rounds (as ``timeit`` does); ``warmup`` rounds
  are discarded and the **median** of the ``repeats`` timed rounds is kept.
  Interleaving makes the ratios within one run robust to machine drift, which
  is why the tables report ratios next to times.
- ``peak_numpy(fn)``: peak extra memory of one call with ``tracemalloc``
  (NumPy registers its buffers with it; numba's and torch's own allocators
  do not).
- ``peak_rss(fn)``: peak extra resident memory of one call: the kernel's
  peak-RSS counter is reset (``/proc/self/clear_refs``), then VmHWM minus VmRSS
  before the call. Used for torch (whose CPU allocator tracemalloc cannot
  see). Memory the process already holds and reuses is not counted, so it is
  a lower bound; ``None`` where the counters are unavailable.
- ``machine()``: CPU model, a summary of the SIMD flags, cores, the load average
  (1 / 5 / 15 min: above the core count, other work shared the cores) and library
  versions, for the results header.
"""

from __future__ import annotations

import gc
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Contender", "round_robin", "peak_numpy", "peak_rss", "machine", "markdown_table"]


@dataclass
class Contender:
    """A named callable to time; ``memory`` is "numpy" (tracemalloc), "rss" or None."""

    name: str
    fn: Callable[[], object]
    memory: str | None = "numpy"
    scale: float = 1.0  # multiply the measured time (e.g. a subsampled contender)
    note: str = ""
    times: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times) * self.scale

    @property
    def min_s(self) -> float:
        """The fastest round: on a shared machine the least disturbed one."""
        return min(self.times) * self.scale


def round_robin(contenders: list[Contender], *, warmup: int = 1, repeats: int = 5) -> None:
    """Time all ``contenders`` interleaved; fills each ``.times`` (seconds)."""
    for c in contenders:
        c.times = []
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection (~0.1-1 s with torch and jax loaded) never lands in a timing
    try:
        for r in range(warmup + repeats):
            for c in contenders:
                time.sleep(0.005)
                t0 = time.perf_counter()
                c.fn()
                dt = time.perf_counter() - t0
                if r >= warmup:
                    c.times.append(dt)
    finally:
        if was_enabled:
            gc.enable()


def peak_numpy(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through tracemalloc-visible allocators during ``fn()``."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss(fn: Callable[[], object]) -> int | None:
    """Peak extra resident bytes during ``fn()`` (reset VmHWM, call, VmHWM - VmRSS before)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _status("VmRSS")
    out = fn()
    peak = _status("VmHWM")
    del out
    if before is None or peak is None:
        return None
    return max(0, peak - before)


def in_fresh_process(module: str, func: str, *args: object) -> Any:
    """``module.func(*args)`` run in a fresh interpreter (a clean heap, for peak-memory
    readings): the JSON value it prints on its last line, or ``None`` when it fails."""
    root = pathlib.Path(__file__).resolve().parent.parent
    call = ", ".join(repr(a) for a in args)
    code = (
        f"import sys; sys.path[:0] = {sys.path[:3]!r}; from {module} import {func}; {func}({call})"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=1800, cwd=str(root)
    )
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine() -> dict[str, str]:
    """CPU, cores and versions of the libraries the suites use."""
    info = {"python": platform.python_version(), "cores": str(os.cpu_count())}
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    info["cpu"] = model
    simd = [
        f
        for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "amx_tile")
        if f in flags
    ]
    info["simd"] = " ".join(simd) or "unknown"
    try:
        info["load"] = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        info["load"] = "unknown"
    for mod in ("numpy", "scipy", "numba", "torch", "sklearn", "jax", "optax"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing library is reported as such
            info[mod] = "not installed"
    return info


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table (first column left-aligned, the rest right-aligned)."""
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)

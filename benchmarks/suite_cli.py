"""Suite "cli": the streaming ``crossentropy evaluate`` command end to end on a Parquet file.

Data: N rows × 10 classes, float32 logits ~ N(0, 1) in columns ``logit_0…logit_9`` and
int64 labels ``y``, written as Parquet in row groups of 500,000 rows (N = 10,000,000;
quick: 1,000,000). The file is generated once per run in a temporary directory.

Contenders, each a fresh Python process timed end to end (start-up, imports, reading,
computing), run alternately ``REPEATS`` times; the median wall time is kept:

- **ours**: ``python -m crossentropy evaluate FILE --target y --pred 'logit_*'
  --kind logits --format json`` (streams record batches through the Accumulator:
  cross-entropy, perplexity, accuracy, Brier, 15-bin calibration, per-class NLL,
  histograms);
- **pandas + sklearn**: ``pandas.read_parquet`` → float64 NumPy → ``scipy.special.softmax``
  → ``sklearn.metrics.log_loss(y, p, labels=range(10))`` (the cross-entropy only).

Start-up (imports, numba's set-up) is part of both end-to-end times; suite "startup"
(benchmarks/suite_startup.py) measures it row by row.

Both report their peak resident memory (``VmHWM`` of the process itself; ``ru_maxrss``
would also count the parent's peak at fork time). The two
cross-entropies are checked against each other (rtol 1e-9).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import machine, markdown_table

TITLE = "Command line"
C = 10
FULL_N, QUICK_N = 10_000_000, 1_000_000
REPEATS, QUICK_REPEATS = 2, 1

PEAK = """
def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss also counts the parent's peak at fork time)
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

OURS = """
import resource, sys, io, contextlib
from crossentropy import cli
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = cli.main(["evaluate", sys.argv[1], "--target", "y", "--pred", "logit_*",
                   "--kind", "logits", "--format", "json"])
import json
d = json.loads(buf.getvalue())
print(json.dumps({"rc": rc, "ce": d["report"]["cross_entropy"], "rows": d["rows"]["read"],
                  "rss_mb": peak_mb()}))
"""

SKLEARN = """
import resource, sys, json
import numpy as np, pandas as pd
from scipy.special import softmax
from sklearn.metrics import log_loss
df = pd.read_parquet(sys.argv[1])
X = df[[f"logit_{j}" for j in range(10)]].to_numpy(dtype=np.float64)
y = df["y"].to_numpy()
ce = log_loss(y, softmax(X, axis=1), labels=np.arange(10))
print(json.dumps({"rc": 0, "ce": float(ce), "rows": int(len(y)),
                  "rss_mb": peak_mb()}))
"""


def make_file(path: str, n: int, seed: int = 0, group: int = 500_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("y", pa.int64())] + [(f"logit_{j}", pa.float32()) for j in range(C)])
    with pq.ParquetWriter(path, schema) as w:
        for s in range(0, n, group):
            k = min(group, n - s)
            X = rng.standard_normal((k, C), dtype=np.float32)
            y = rng.integers(0, C, k)
            w.write_table(
                pa.table([pa.array(y)] + [pa.array(X[:, j]) for j in range(C)], schema=schema)
            )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(code: str, path: str) -> tuple[float, dict]:
    env = _env()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "import resource\n" + PEAK + code, path],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return dt, json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool) -> str:
    n = QUICK_N if quick else FULL_N
    repeats = QUICK_REPEATS if quick else REPEATS
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "preds.parquet")
        t0 = time.perf_counter()
        make_file(path, n)
        gen_s = time.perf_counter() - t0
        size_mb = os.path.getsize(path) / 1e6
        # one untimed run on a small file first: numba compiles the kernels once per
        # environment (cached on disk); the timed runs measure the steady state
        warm = os.path.join(d, "warm.parquet")
        make_file(warm, 50_000)
        _run(OURS, warm)
        results: dict[str, list] = {"ours": [], "sklearn": []}
        for _ in range(repeats):
            results["ours"].append(_run(OURS, path))
            results["sklearn"].append(_run(SKLEARN, path))
    ce_ours = results["ours"][0][1]["ce"]
    ce_sk = results["sklearn"][0][1]["ce"]
    agree = abs(ce_ours - ce_sk) <= 1e-9 * abs(ce_sk)
    med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    rss = {k: max(r["rss_mb"] for _, r in v) for k, v in results.items()}
    rows = [
        [
            "crossentropy evaluate (streaming)",
            f"{med['ours']:.2f}",
            f"{n / med['ours']:,.0f}",
            f"{rss['ours']:.0f}",
            f"{med['sklearn'] / med['ours']:.2f}×",
        ],
        [
            "pandas.read_parquet + sklearn log_loss",
            f"{med['sklearn']:.2f}",
            f"{n / med['sklearn']:,.0f}",
            f"{rss['sklearn']:.0f}",
            "1.00×",
        ],
    ]
    m = machine()
    lines = [
        f"## {TITLE}",
        "",
        f"`crossentropy evaluate` on a {n:,} × {C} Parquet file ({size_mb:.0f} MB, float32 logits, "
        f"int64 labels, row groups of 500,000; generated in {gen_s:.0f} s) against pandas + "
        "scikit-learn on the same file. Each contender is a fresh process timed end to end "
        f"(imports included), alternated, median of {repeats}. Goal: ≥ 5× sklearn's end-to-end "
        "time.",
        "",
        markdown_table(
            ["contender", "time (s)", "rows/s", "peak RSS (MB)", "speed-up vs sklearn"], rows
        ),
        "",
        "Start-up (imports, numba's set-up) is in both times: see the Start-up section.",
        "",
        f"Cross-entropy: ours {ce_ours:.12g}, sklearn {ce_sk:.12g} "
        f"({'agree' if agree else 'DISAGREE'} to 1e-9). Our run also computes accuracy, Brier, "
        "calibration, per-class NLL and histograms; sklearn's only the log-loss.",
        "",
        f"Machine: {m.get('cpu', m.get('model', '?'))}, {m.get('cores', '?')} cores, "
        f"Python {m.get('python', '?')}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))

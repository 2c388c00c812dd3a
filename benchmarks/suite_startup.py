"""Suite "startup": what a fresh process pays before it computes anything.

Each row is a fresh ``python`` process timed end to end from this process (``perf_counter``
around ``subprocess.run``); the rows run round-robin, ``REPEATS`` rounds after one untimed
warm-up round, and the **median** is kept (the minimum beside it: the least disturbed run).

Bytecode: the processes get a private ``PYTHONPYCACHEPREFIX`` (a temporary directory, filled by
the warm-up round) and never ``PYTHONDONTWRITEBYTECODE``, so every module loads from its cached
bytecode as from an installed wheel. (A source checkout run with ``PYTHONDONTWRITEBYTECODE=1``
compiles each of the package's modules at every start instead.) numba's kernel cache is its own
(``cache=True``, next to the kernels' sources); the warm-up round fills it too.

Rows:

- the bare interpreter, ``import numpy`` and ``import numba``: the floors;
- ``import crossentropy`` (the public names load at first use, PEP 562) and the first core call
  on NumPy arrays (which loads ``array_api_compat``'s NumPy namespace);
- ``crossentropy --version`` and ``--help``;
- ``crossentropy evaluate`` on the bundled digits example (the NumPy path: no numba);
- ``crossentropy evaluate FILE``: ``N_ROWS`` × ``C`` float32 logits in an NPZ file, batches of
  65,536 rows, so every batch is above the kernel threshold (the fused numba kernels: numba's
  import and its first-dispatch set-up are paid once per process), and the same file with the
  threshold raised out of reach (the row-blocked NumPy path: no numba);
- ``import numba`` + the first call of one cached kernel: numba's share of the kernel path;
- for scale, the imports of suite "cli"'s other contender (pandas, SciPy, scikit-learn).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import machine, markdown_table

TITLE = "Start-up"
REPEATS, QUICK_REPEATS = 9, 5
N_ROWS, C = 200_000, 10

FIRST_CORE_CALL = (
    "import numpy as np, crossentropy as ce; "
    "ce.cross_entropy(np.zeros((2, 3)), np.zeros(2, dtype=np.int64))"
)
KERNEL_FIRST_CALL = (
    "import numpy as np; from crossentropy.kernels import rowstats; "
    "x = np.zeros((4, 3)); t = np.zeros(4, np.intp); a = np.empty(4, np.intp); "
    "rowstats.rank_rows(x, t, a, np.empty(4, np.intp))"
)
# The command line with the kernel threshold out of reach: every batch takes the NumPy path.
NO_KERNEL_CLI = (
    "import sys; from crossentropy import _dispatch, cli; "
    "assert hasattr(_dispatch, 'KERNEL_MIN_ELEMENTS'); "
    "_dispatch.KERNEL_MIN_ELEMENTS = 1 << 62; "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def rows_to_time(path: str) -> dict[str, list[str]]:
    """Row name → the interpreter's arguments."""
    evaluate = [path, "--kind", "logits", "--format", "json"]
    return {
        "python (bare interpreter)": ["-c", "pass"],
        "import numpy": ["-c", "import numpy"],
        "import crossentropy": ["-c", "import crossentropy"],
        "first core call on NumPy (cross_entropy, 2 × 3)": ["-c", FIRST_CORE_CALL],
        "crossentropy --version": ["-m", "crossentropy", "--version"],
        "crossentropy --help": ["-m", "crossentropy", "--help"],
        "crossentropy evaluate (bundled digits, NumPy path)": ["-m", "crossentropy", "evaluate"],
        f"crossentropy evaluate FILE ({N_ROWS:,} × {C}, kernel path)": [
            "-m",
            "crossentropy",
            "evaluate",
            *evaluate,
        ],
        f"crossentropy evaluate FILE ({N_ROWS:,} × {C}, NumPy path forced)": [
            "-c",
            NO_KERNEL_CLI,
            "evaluate",
            *evaluate,
        ],
        "import numba": ["-c", "import numba"],
        "import numba + first call of one cached kernel": ["-c", KERNEL_FIRST_CALL],
        "import pandas, scipy.special, sklearn.metrics (suite cli's other contender)": [
            "-c",
            "import pandas, scipy.special, sklearn.metrics",
        ],
    }


def make_file(path: str, n: int = N_ROWS, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C), dtype=np.float32)
    np.savez(path, logits=logits, target=rng.integers(0, C, n))


def _env(pycache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _once(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, env=env, timeout=600)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: exit {proc.returncode}\n{proc.stderr.decode()[-2000:]}")
    return dt


def time_rows(rows: dict[str, list[str]], repeats: int, env: dict[str, str]) -> dict[str, list]:
    """Each row's wall times (seconds): one untimed round, then ``repeats`` interleaved rounds."""
    for args in rows.values():
        _once(args, env)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, args in rows.items():
            times[name].append(_once(args, env))
    return times


def run(quick: bool) -> str:
    repeats = QUICK_REPEATS if quick else REPEATS
    m = machine()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "preds.npz")
        make_file(path)
        times = time_rows(rows_to_time(path), repeats, _env(os.path.join(d, "pycache")))
    bare = statistics.median(times["python (bare interpreter)"])
    table = [
        [
            name,
            f"{statistics.median(t) * 1e3:.0f}",
            f"{min(t) * 1e3:.0f}",
            f"{(statistics.median(t) - bare) * 1e3:.0f}",
        ]
        for name, t in times.items()
    ]
    lines = [
        f"## {TITLE}",
        "",
        f"Fresh processes, median (and minimum) of {repeats} interleaved rounds after one warm-up "
        "round; bytecode cached as in an installed wheel (see benchmarks/suite_startup.py). "
        f"The FILE is {N_ROWS:,} × {C} float32 logits in NPZ (batches of 65,536 rows: above the "
        "kernel threshold).",
        "",
        markdown_table(["process", "median (ms)", "min (ms)", "minus bare python (ms)"], table),
        "",
        f"Machine: {m['cpu']} ({m['simd']}), {m['cores']} cores, load {m['load']} (1/5/15 min), "
        f"Python {m['python']}, NumPy {m['numpy']}, numba {m['numba']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))

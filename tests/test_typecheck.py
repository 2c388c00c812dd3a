"""A type checker runs clean on the core modules (the option Literals, Rows, the chain, torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "crossentropy"

CORE = [
    "_types.py",
    "_options.py",
    "_rows.py",
    "_dispatch.py",
    "_prepare.py",
    "chain.py",
    "binary.py",
    "information.py",
    "gradients.py",
    "torch",
]


def test_mypy_is_clean_on_the_core():
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--ignore-missing-imports",
        "--follow-imports=silent",
        "--no-error-summary",
        *(str(SRC / m) for m in CORE),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr

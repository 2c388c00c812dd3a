"""Benchmark runner: ``python -m benchmarks [--quick] [--suite NAME ...]``.

Discovers ``benchmarks/suite_*.py`` (each exposes ``TITLE`` and
``run(quick: bool) -> str`` returning a markdown section that starts with
``## TITLE``) and runs them in one process. Full runs replace each suite's own
section in ``benchmarks/RESULTS.md`` (other sections are left untouched);
``--quick`` runs (small shapes, under a minute) only print and write JSON
under ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Written by `python -m benchmarks` (full runs). Each section belongs to one suite and\n"
    "is replaced only by that suite; read ratios within a section, not absolute times.\n"
)


def suites() -> list[str]:
    return sorted(p.stem[len("suite_") :] for p in HERE.glob("suite_*.py"))


def replace_section(text: str, title: str, section: str) -> str:
    """``text`` with the ``## title`` section replaced by ``section`` (appended if absent)."""
    head = f"## {title}"
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == head), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + section.strip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = lines[:start] + section.strip("\n").split("\n") + [""] + lines[end:]
    return "\n".join(new).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small shapes, under a minute")
    parser.add_argument(
        "--suite", action="append", choices=suites(), help="run only this suite (repeatable)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="do not update RESULTS.md on a full run"
    )
    args = parser.parse_args(argv)
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    if importlib.util.find_spec("crossentropy") is None and (HERE.parent / "src").is_dir():
        sys.path.insert(0, str(HERE.parent / "src"))  # a source checkout, not installed
    for name in args.suite or suites():
        mod = importlib.import_module(f"benchmarks.suite_{name}")
        section = mod.run(quick=args.quick)
        if not args.quick and not args.no_write:
            text = RESULTS.read_text() if RESULTS.exists() else HEADER
            RESULTS.write_text(replace_section(text, mod.TITLE, section))
            print(f"updated {RESULTS.name}: ## {mod.TITLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

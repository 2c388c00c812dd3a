"""The layers of docs/architecture.md, enforced on the source with ``ast``.

Every module has a rank; a module imports only modules of a lower rank, or modules of
its own package (``kernels``, ``torch``, ``dask``) at the same rank. So there is no cycle
across packages, the evaluation never reaches up into the command line, and ``torch``
sees only the foundations. A ``_private`` name may be imported only from an underscore
module built to be shared (or from inside its own module's package ``__init__``).
A new module must be given a rank here (and a line in docs/architecture.md). The one
exemption: a module-level ``__getattr__`` that keeps an old import path working (it
imports lazily, on first use of the old name, so it creates no load-time edge).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "crossentropy"

#: module (dotted, relative to crossentropy) -> rank. Lower ranks never import higher ones.
RANKS = {
    # foundations (L0)
    "_types": 0,
    "_array": 1,
    "_jax": 1.5,  # the JAX custom gradient: takes the closed form from its caller
    "_validate": 2,
    "special": 2,
    "_json": 2,
    "_options": 3,
    "kinds": 3,
    "_rows": 4,
    "kernels": 5,
    "_blocks": 5,
    "io": 5,
    "examples": 5,
    "_dispatch": 6,
    "_prepare": 7,
    # the chain (L1); torch sits beside it and sees only the foundations
    "chain": 8,
    "binary": 8,
    "torch": 8,
    "information": 9,
    "distillation": 9,
    "gradients": 9,
    "tokens": 9,
    # evaluation statistics (L2-L4)
    "calibration": 10,
    "bootstrap": 10,
    "ranking": 10,  # ROC AUC / average precision from mergeable score histograms
    "temperature": 11,
    "plots": 11.7,  # figures of report-like records (read by attribute): below report
    "display": 11.8,  # the report's repr, HTML and pandas forms (report delegates to it)
    "_batchrows": 10.5,
    "report": 12,
    "stats": 12.5,
    "taskstats": 12.6,  # binary / multi-label sums, top-k, confusion (above stats)
    "accumulate": 13,
    "evaluate_options": 13.4,
    "rowfilter": 13.5,
    "compare": 13.6,
    # files, figures, commands (L5-L7)
    "pipeline": 14,
    "html": 15,
    "explain": 16,
    "dask": 16,
    "cli": 17,
    "__main__": 18,
}

#: Packages whose submodules may import each other at the same rank.
PACKAGES = {"kernels", "torch", "dask", "examples", "explain", "io", "cli"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _rank_key(module: str) -> str | None:
    """The RANKS entry governing ``module`` (a package's submodules share its rank)."""
    if module == "":
        return None  # crossentropy/__init__: the public re-exports
    head = module.split(".")[0]
    if module in RANKS:
        return module
    return head if head in RANKS else module


def _imports(module: str, path: Path):
    """(target module relative to crossentropy, imported names, line) for each in-package import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if module else []
    if not is_pkg:
        base = base[:-1]
    shims = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
        for n in ast.walk(f)
    }
    for node in ast.walk(tree):
        if id(node) in shims:
            continue  # a module __getattr__ keeping an old import path working, loaded lazily
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*up, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("crossentropy"):
                target = node.module[len("crossentropy") :].lstrip(".")
            else:
                continue
            names = [a.name for a in node.names]
            # `from . import kernels` imports a module: resolve each name that is a module
            if not node.module or (target and (PKG / target.replace(".", "/")).is_dir()):
                for n in names:
                    sub = f"{target}.{n}" if target else n
                    if (PKG / sub.replace(".", "/")).with_suffix(".py").exists() or (
                        PKG / sub.replace(".", "/")
                    ).is_dir():
                        yield sub, [], node.lineno
                    else:
                        yield target, [n], node.lineno
            else:
                yield target, names, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("crossentropy."):
                    yield a.name[len("crossentropy.") :], [], node.lineno


MODULES = dict(_modules())


def test_every_module_has_a_rank():
    missing = sorted(m for m in MODULES if m and _rank_key(m) not in RANKS)
    assert not missing, f"give these modules a rank in tests/test_layers.py and docs: {missing}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m))
def test_imports_go_down(module):
    key = _rank_key(module)
    rank = RANKS[key]
    bad = []
    for target, _, line in _imports(module, MODULES[module]):
        if target == "":
            bad.append(f"line {line}: imports the package root `crossentropy`")
            continue
        tkey = _rank_key(target)
        if tkey not in RANKS:
            continue  # reported by test_every_module_has_a_rank
        same_pkg = tkey == key and key in PACKAGES
        if tkey == key and not same_pkg and target == module:
            continue
        if RANKS[tkey] < rank or same_pkg:
            continue
        bad.append(f"line {line}: {module} (rank {rank}) imports {target} (rank {RANKS[tkey]})")
    assert not bad, "\n".join(bad)


def _shared(target: str) -> bool:
    """An underscore module built to be shared, or a package's own ``__init__``."""
    return target.split(".")[-1].startswith("_")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_private_names_come_from_shared_modules(module):
    bad = []
    for target, names, line in _imports(module, MODULES[module]):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and not _shared(target):
            bad.append(f"line {line}: {module or 'crossentropy'} imports {private} from {target}")
    assert not bad, "\n".join(bad)


def test_layer_table_is_documented():
    """docs/architecture.md names every module that has a rank."""
    text = (SRC.parent / "docs" / "architecture.md").read_text()
    undocumented = sorted(k for k in RANKS if f"`{k}" not in text)
    assert not undocumented, f"docs/architecture.md does not mention: {undocumented}"

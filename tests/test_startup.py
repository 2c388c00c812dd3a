"""Start-up: what ``import crossentropy`` and the command line load (not how long they take; the
times are benchmarks/suite_startup.py's).

``import crossentropy`` loads the public names at first use (PEP 562); the command line on
the NumPy path (the bundled example) imports none of the optional packages. Each check runs in
a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

INIT = Path(__file__).resolve().parents[1] / "src" / "crossentropy" / "__init__.py"
OPTIONAL = ("numba", "llvmlite", "scipy", "matplotlib", "pyarrow", "pandas", "dask", "distributed")
OPTIONAL += ("torch", "jax", "rich", "sklearn")


def _fresh(code: str) -> object:
    """What ``code`` prints as JSON on its last line, run in a new interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _loaded(prefixes) -> str:
    """Python source: the sorted top-level names among ``prefixes`` in ``sys.modules``."""
    return f"sorted({{m.split('.')[0] for m in sys.modules}} & set({list(prefixes)!r}))"


def test_import_loads_no_array_library_and_no_submodule():
    code = (
        "import sys, json, crossentropy; "
        f"print(json.dumps([{_loaded(OPTIONAL + ('numpy', 'array_api_compat'))}, "
        "sorted(m for m in sys.modules if m.startswith('crossentropy.'))]))"
    )
    assert _fresh(code) == [[], []]


def test_first_use_of_a_name_imports_its_module_only_then():
    code = (
        "import sys, json, crossentropy as ce; "
        "before = 'crossentropy.chain' in sys.modules; f = ce.cross_entropy; "
        "print(json.dumps([before, f.__module__, 'crossentropy.chain' in sys.modules, "
        f"'cross_entropy' in vars(ce), {_loaded(OPTIONAL)}]))"
    )
    assert _fresh(code) == [False, "crossentropy.chain", True, True, []]


def test_bundled_evaluate_takes_the_numpy_path_without_optional_packages():
    """The digits example is far below the kernel threshold: no numba, and no pyarrow either
    (an Arrow label column can only exist once pyarrow is imported)."""
    code = "\n".join(
        [
            "import sys, io, json, contextlib",
            "from crossentropy import cli",
            "out = io.StringIO()",
            "with contextlib.redirect_stdout(out):",
            "    rc = cli.main(['evaluate', '--format', 'json'])",
            "rows = json.loads(out.getvalue())['rows']['evaluated']",
            f"print(json.dumps([rc, rows, {_loaded(OPTIONAL)}]))",
        ]
    )
    assert _fresh(code) == [0, 539, []]


def _type_checking_imports() -> dict[str, str]:
    """name → module of the ``if TYPE_CHECKING:`` block of ``crossentropy/__init__.py``."""
    tree = ast.parse(INIT.read_text())
    blocks = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1
    return {
        a.name: node.module
        for node in blocks[0].body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        for a in node.names
    }


def test_type_checkers_see_the_same_names_as_the_lazy_table():
    import crossentropy as ce

    assert _type_checking_imports() == ce._EXPORTS
    assert ce.__all__ == sorted(ce._EXPORTS)


def test_every_public_name_resolves_and_is_listed():
    import importlib

    import crossentropy as ce

    for name, module in ce._EXPORTS.items():
        defined = getattr(importlib.import_module(f"crossentropy.{module}"), name)
        assert getattr(ce, name) is defined, name
    assert set(ce.__all__) <= set(dir(ce))
    namespace: dict = {}
    exec("from crossentropy import *", namespace)
    assert set(ce.__all__) <= set(namespace)


def test_submodules_stay_reachable_and_unknown_names_say_so():
    code = (
        "import json, crossentropy as ce; "
        "print(json.dumps([ce.special.__name__, ce.kinds.infer_kind is ce.infer_kind]))"
    )
    assert _fresh(code) == ["crossentropy.special", True]
    import crossentropy as ce

    with pytest.raises(AttributeError, match="'crossentropy' has no attribute 'no_such_name'"):
        ce.no_such_name  # noqa: B018

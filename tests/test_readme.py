"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README should show the API in Python"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_second_command_is_the_ci_command():
    commands = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    test_command = commands[1].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci.splitlines(), (test_command, ci)

"""The subcommands: :func:`command` registers ``run(args) -> exit status`` in :data:`COMMANDS`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, *, help: str, arguments: Callable, description: str | None = None):
    """Register ``run(args) -> exit status`` as the subcommand ``name``."""

    def register(run):
        COMMANDS[name] = Command(name, help, description or run.__doc__ or help, arguments, run)
        return run

    return register


# A subcommand module imported here registers itself when the package loads (``_evaluate``
# and ``_explain`` are imported by the package ``__init__``).
from . import _compare  # noqa: E402, F401

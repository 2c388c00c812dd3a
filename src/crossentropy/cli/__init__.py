"""The ``crossentropy`` command line: arguments, exit statuses and output.

``crossentropy evaluate [FILE ...]`` runs the evaluation pipeline
(:mod:`crossentropy.pipeline`: files → batches → :class:`crossentropy.Accumulator`)
on one process or on Dask (``--engine dask``) and prints the
:class:`crossentropy.Report`; with no file it evaluates the bundled digits example.
``crossentropy explain [FILE]`` prints :mod:`crossentropy.explain`'s walk-through.
``python -m crossentropy`` is the same program.

Adding a subcommand is one module of this package, imported below, with one function
registered in one place::

    @command("name", help="one line", arguments=_name_arguments)
    def _name(args) -> int:
        ...

where ``_name_arguments(parser)`` adds the subcommand's options.

With ``--format json`` only JSON is written to stdout (notes and progress go to stderr):
the object of :meth:`crossentropy.pipeline.Evaluation.to_dict`, schema version 1, summed
up in :data:`JSON_HELP`. The exit statuses are :data:`EXIT_CODES` (error class → status),
explained in :data:`EXIT_CODES_HELP`; both texts are part of ``--help``.

Outputs (``--report``, ``--plots``, ``explain --plot``) are checked before any input is
read and written all or nothing at the end (:mod:`crossentropy.io._output`): an output
that is an input is a usage error. Names that come from files (paths, columns) are
printed with terminal control characters escaped (:func:`printable`).

The package: ``_exits`` (error classes, exit statuses), ``_registry`` (the subcommands),
``_arguments`` (flags → options and source), ``_print`` (stdout, stderr, the results),
``_evaluate`` and ``_explain`` (the commands); this module parses and runs them.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import _evaluate, _explain  # noqa: F401  (registers the commands, in --help order)
from ._arguments import VersionAction
from ._evaluate import BUNDLED_FIRST_LINE  # noqa: F401
from ._exits import (  # noqa: F401
    EXIT_CODES,
    EXIT_CODES_HELP,
    EXIT_DATA,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
    EXIT_USAGE,
    ConnectError,
    StdoutError,
    UsageError,
    exit_code,
)
from ._print import JSON_HELP, _say, printable
from ._registry import COMMANDS, Command, command  # noqa: F401

__all__ = ["main", "command", "COMMANDS", "EXIT_CODES", "printable"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossentropy",
        description="Likelihood, log-likelihood, NLL and cross-entropy of your predictions.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description,
            epilog=(JSON_HELP if cmd.name == "evaluate" else "") + EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``--help``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    _say_warnings(args.command, caught)
    return code


def _run(args: argparse.Namespace) -> int:
    """``args._run(args)`` with each failure mapped to its exit status and one line on stderr."""
    try:
        return int(args._run(args) or 0)
    except tuple(EXIT_CODES) as e:
        _say(f"crossentropy {args.command}: error: {e}")
        if isinstance(e, StdoutError):
            _quiet_stdout()
        return exit_code(e)
    except KeyboardInterrupt:
        _say(f"crossentropy {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except MemoryError:
        advice = (
            "use fewer --bootstrap replicates or a lower --batch-size"
            if getattr(args, "bootstrap", 0)
            else "lower --batch-size"
        )
        _say(f"crossentropy {args.command}: error: out of memory; {advice}")
        return EXIT_IO
    except Exception as e:  # a bug: one line unless --debug
        if args.debug or os.environ.get("CROSSENTROPY_DEBUG"):
            raise
        _say(
            f"crossentropy {args.command}: internal error: {type(e).__name__}: {e} "
            "(rerun with --debug for the traceback and please report it)"
        )
        return EXIT_INTERNAL


def _say_warnings(name: str, caught: list[warnings.WarningMessage]) -> None:
    """Warnings no part of the program turned into a note, one line each (no source line)."""
    seen: set[str] = set()
    for w in caught:
        line = f"crossentropy {name}: warning: {w.category.__name__}: {w.message}"
        if line not in seen:
            seen.add(line)
            _say(line)


def _quiet_stdout() -> None:
    """Point stdout at the null device so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests): nothing to do
        pass

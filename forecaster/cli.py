"""The ``forecaster`` command: one subcommand per job. Errors become one clear line and a non-zero exit.

Each subcommand lives in a small ``cli_*.py`` module exposing ``add_parser(subparsers)``; those modules keep
heavy imports (torch, kubernetes, uvicorn) inside their run functions so ``forecaster --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from forecaster.errors import ForecasterError

__all__ = ["main", "build_parser"]

# Modules that register subcommands, in the order they appear in --help.
_COMMAND_MODULES = (
    "forecaster.cli_core",  # train, predict, backtest, demo
    "forecaster.cli_pretrain",  # pretrain
    "forecaster.cli_simulate",  # simulate
    "forecaster.cli_tune",  # tune
    "forecaster.cli_serve",  # serve
    "forecaster.cli_prescale",  # prescale
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecaster",
        description="Forecast service traffic 30 minutes ahead and raise Kubernetes capacity before spikes.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command module not shipped in this build
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ForecasterError as exc:
        print(f"forecaster {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``msc-bluesky`` command line.

Each subcommand lives in its own module ``msc_bluesky.cli.<name>`` (dashes in the
command become underscores: ``fit-kinetics`` is ``fit_kinetics``) that defines

- ``HELP``: one line for ``msc-bluesky --help``;
- ``add_arguments(parser)``: its options;
- ``run(args) -> int``: the work, returning the exit status.

Modules are imported only when their command runs, so ``msc-bluesky simulate`` does
not pay for tiled or the queue server.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommands in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "campaign",
    "explore",
    "simulate",
    "ioc",
    "serve",
    "replay",
    "copy-store",
    "report",
    "reprocess",
    "fit-kinetics",
    "qserver",
    "live",
)


def _module_name(command: str) -> str:
    """Module of a subcommand: ``fit-kinetics`` lives in ``fit_kinetics``."""
    return command.replace("-", "_")


def _load(name: str):
    try:
        return importlib.import_module(f"msc_bluesky.cli.{_module_name(name)}")
    except ModuleNotFoundError as err:
        if err.name == f"msc_bluesky.cli.{_module_name(name)}":
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; with ``only``, load just that subcommand's module."""
    parser = argparse.ArgumentParser(
        prog="msc-bluesky",
        description="In-situ CdSe magic-size cluster / nanocrystal flow-reactor experiments "
        "with Bluesky.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``msc-bluesky`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 0 if not argv or first is None else 2
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

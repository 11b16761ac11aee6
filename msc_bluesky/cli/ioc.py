"""``msc-bluesky ioc``: start the simulated reactor, UV-Vis and SAXS IOCs."""

from __future__ import annotations

import argparse

HELP = "Start the simulated reactor, UV-Vis and SAXS IOCs (Channel Access, one process)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``msc-bluesky ioc`` (see :func:`msc_bluesky.iocs.server.add_arguments`)."""
    from msc_bluesky.iocs.server import add_arguments as ioc_arguments

    ioc_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the IOC until interrupted; with ``--list-pvs`` print the PV table and exit."""
    from msc_bluesky.iocs.server import run as run_ioc

    return run_ioc(args)

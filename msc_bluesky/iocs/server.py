"""One IOC process serving the reactor, the spectrometer and the SAXS detector.

``msc-bluesky ioc`` and ``python -m msc_bluesky.iocs`` both end up in :func:`main`.
The simulated world runs ``--time-scale`` times faster than the wall clock; a scan at
20 Hz (wall) advances it and refreshes the reactor PVs.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence

from caproto.server import PVGroup, SubGroup
from caproto.server import run as caproto_run

from msc_bluesky.child_process import exit_with_parent
from msc_bluesky.iocs.reactor import ReactorGroup
from msc_bluesky.iocs.safety import (
    DEFAULT_WATCHDOG_WALL_S,
    MAX_WATCHDOG_WALL_S,
    WatchdogError,
    check_watchdog_timeout,
)
from msc_bluesky.iocs.saxs import SaxsGroup
from msc_bluesky.iocs.state import SimState
from msc_bluesky.iocs.uvvis import UVVisGroup
from msc_bluesky.sim.reactor import DEFAULT_RESERVOIR_ML

HELP = "Start the simulated reactor, UV-Vis and SAXS IOCs (Channel Access, one process)."
DEFAULT_PREFIX = "MSC:"


class SimulatorIOC(PVGroup):
    """All simulated instruments under one prefix."""

    reactor = SubGroup(ReactorGroup, prefix="reactor:", doc="Flow reactor")
    uvvis = SubGroup(UVVisGroup, prefix="uvvis:", doc="UV-Vis spectrometer")
    saxs = SubGroup(SaxsGroup, prefix="saxs:", doc="SAXS detector")

    def __init__(self, prefix: str, *, sim: SimState, **kwargs) -> None:
        self.sim = sim
        super().__init__(prefix, **kwargs)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return v


def _non_negative(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0 (0 = off)")
    return v


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"port {v} must be within 1-65535")
    return v


def _prefix(text: str) -> str:
    if not text or any(c.isspace() for c in text) or any(c in text for c in "\"'$"):
        raise argparse.ArgumentTypeError(
            f"prefix {text!r} must be non-empty without spaces, quotes or '$' (e.g. 'MSC:')")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the IOC's options to ``parser``."""
    parser.add_argument("--prefix", type=_prefix, default=DEFAULT_PREFIX,
                        help=f"PV prefix (default {DEFAULT_PREFIX!r})")
    parser.add_argument("--time-scale", type=_positive, default=1.0,
                        help="simulated seconds per wall second (default 1; 100 runs ramps, "
                             "flushing and exposures 100x faster)")
    parser.add_argument("--port", type=_port, default=None,
                        help="CA server port (default: EPICS_CA_SERVER_PORT, else 5064)")
    parser.add_argument("--interfaces", nargs="+", default=["127.0.0.1"],
                        help="interfaces to listen on (default 127.0.0.1: loopback only)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of all noise (default 0)")
    parser.add_argument("--watchdog", type=_non_negative, default=None, metavar="S",
                        help="heater watchdog: simulated s without a reactor:heartbeat put "
                             f"before heaters and pumps go to standby (default "
                             f"{DEFAULT_WATCHDOG_WALL_S:g} s of wall time = "
                             f"{DEFAULT_WATCHDOG_WALL_S:g} x time scale; at most "
                             f"{MAX_WATCHDOG_WALL_S:g} s of wall time; 0 = off, as "
                             "--no-watchdog)")
    parser.add_argument("--no-watchdog", action="store_true",
                        help="run without the heater watchdog (UNSAFE: heaters stay on when "
                             "every client has died)")
    parser.add_argument("--exit-with-parent", type=int, default=None, metavar="PID",
                        help="exit when process PID (the one that started the IOC) is gone")
    parser.add_argument("--reservoir-ml", type=_positive, default=DEFAULT_RESERVOIR_ML,
                        help="reservoir volume of each pump in mL (default %(default)s)")
    parser.add_argument("--list-pvs", action="store_true",
                        help="print every PV with its description and exit")


def pv_table(prefix: str = DEFAULT_PREFIX) -> list[tuple[str, str, str, bool]]:
    """Every PV as ``(name, type, description, writable)``, without starting a server."""
    logging.disable(logging.WARNING)  # quiet caproto's large-array backlog notice
    try:
        ioc = SimulatorIOC(prefix, sim=SimState())
    finally:
        logging.disable(logging.NOTSET)
    try:
        rows = []
        for name, inst in ioc.pvdb.items():
            dtype = inst.data_type.name
            if inst.max_length > 1 and dtype != "STRING":
                dtype = f"{dtype}[{inst.max_length}]"
            writable = not getattr(inst.pvspec, "read_only", False)
            rows.append((name, dtype, (inst.__doc__ or "").strip(), writable))
        return rows
    finally:
        ioc.sim.close()


def format_pv_table(rows: Sequence[tuple[str, str, str, bool]]) -> str:
    """Text table of :func:`pv_table` rows (``*`` marks PVs clients may put)."""
    width = max(len(r[0]) for r in rows) + 1
    twidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{name + ('*' if w else ''):<{width}} {dtype:<{twidth}}  {doc}"
                     for name, dtype, doc, w in rows)


def _configure_environment(args: argparse.Namespace) -> None:
    if args.port is not None:
        os.environ["EPICS_CA_SERVER_PORT"] = str(args.port)
    if all(i.startswith("127.") or i == "localhost" for i in args.interfaces):
        # Loopback only: keep beacons on loopback too.
        os.environ["EPICS_CAS_BEACON_ADDR_LIST"] = "127.0.0.1"
        os.environ["EPICS_CAS_AUTO_BEACON_ADDR_LIST"] = "NO"
    os.environ["EPICS_CAS_INTERFACES"] = " ".join(args.interfaces)


def run(args: argparse.Namespace) -> int:
    """Start the IOC with parsed options (or list the PVs); returns the exit status."""
    if args.list_pvs:
        print(format_pv_table(pv_table(args.prefix)))
        return 0
    no_watchdog = bool(args.no_watchdog) or args.watchdog == 0
    try:
        if args.watchdog is not None and not no_watchdog:
            check_watchdog_timeout(args.watchdog, args.time_scale, may_disable=False)
    except WatchdogError as err:
        print(f"msc-bluesky ioc: --watchdog {args.watchdog:g}: {err}; or --no-watchdog",
              file=sys.stderr)
        return 2
    _configure_environment(args)
    if args.exit_with_parent is not None:
        exit_with_parent(args.exit_with_parent, "msc-bluesky IOC")
    sim = SimState(time_scale=args.time_scale, seed=args.seed,
                   reservoir_ml=args.reservoir_ml, watchdog_s=args.watchdog,
                   no_watchdog=no_watchdog)
    if no_watchdog:
        print("msc-bluesky IOC: WARNING: watchdog off (--no-watchdog): heaters stay on if "
              "every client dies", file=sys.stderr, flush=True)
    ioc = SimulatorIOC(args.prefix, sim=sim)
    port = os.environ.get("EPICS_CA_SERVER_PORT", "5064")
    watchdog = sim.world.watchdog_timeout
    armed = (f"watchdog {watchdog:g} s ({watchdog / sim.time_scale:g} s of wall time)"
             if watchdog > 0 else "watchdog OFF")
    print(f"msc-bluesky IOC: {len(ioc.pvdb)} PVs, prefix {args.prefix!r}, "
          f"time scale {args.time_scale:g}, port {port}, interfaces {' '.join(args.interfaces)}"
          f", {armed}", file=sys.stderr, flush=True)
    try:
        caproto_run(ioc.pvdb, interfaces=list(args.interfaces))
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m msc_bluesky.iocs``."""
    parser = argparse.ArgumentParser(prog="python -m msc_bluesky.iocs", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))

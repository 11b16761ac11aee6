"""Test configuration shared by every tier.

Channel Access is pinned to loopback before anything imports ophyd or caproto: the
EPICS environment is read once per process.
"""

from __future__ import annotations

import os

os.environ["EPICS_CA_ADDR_LIST"] = "127.0.0.1"
os.environ["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
os.environ["EPICS_CAS_INTERFACES"] = "127.0.0.1"
os.environ["EPICS_CAS_BEACON_ADDR_LIST"] = "127.0.0.1"
os.environ["EPICS_CAS_AUTO_BEACON_ADDR_LIST"] = "NO"
os.environ.setdefault("OPHYD_CONTROL_LAYER", "caproto")
os.environ.setdefault("MPLBACKEND", "Agg")

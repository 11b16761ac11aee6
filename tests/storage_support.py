"""In-process devices, plans and document helpers for the storage and session tests.

The devices are small ophyd devices named like the real ones (``reactor``, ``uvvis``,
``saxs``) so that their event data keys are those of docs/architecture.md:
a 1000-point absorbance spectrum and a 300-point I(q) curve per event.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import httpx
import numpy as np
from event_model import compose_run
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.sim import SynSignal

WAVELENGTH_NM = np.linspace(300.0, 700.0, 1000)
Q_PER_NM = np.geomspace(0.05, 8.0, 300)


class SimReactor(Device):
    """Temperatures and reaction time as plain settable signals."""

    t_nuc = Cpt(Signal, value=25.0, kind="hinted")
    t_growth = Cpt(Signal, value=25.0, kind="hinted")
    reaction_time = Cpt(Signal, value=1.0, kind="hinted")


def make_devices(seed: int = 0) -> tuple[SimReactor, Device, Device]:
    """``reactor``, ``uvvis``, ``saxs`` whose curves depend on the reactor state."""
    rng = np.random.default_rng(seed)
    reactor = SimReactor(name="reactor")

    def spectrum() -> np.ndarray:
        peak = 400.0 + 0.5 * (reactor.t_nuc.get() - 200.0) + 5.0 * reactor.reaction_time.get()
        clean = np.exp(-0.5 * ((WAVELENGTH_NM - peak) / 12.0) ** 2)
        return clean + rng.normal(0.0, 1e-3, WAVELENGTH_NM.size)

    def curve() -> np.ndarray:
        radius = 0.5 + 0.01 * (reactor.t_growth.get() - 150.0)
        qr = Q_PER_NM * radius
        form = (3 * (np.sin(qr) - qr * np.cos(qr)) / qr**3) ** 2
        return 0.1 * form + 1e-3 + rng.normal(0.0, 1e-5, Q_PER_NM.size)

    class SimUVVis(Device):
        absorbance = Cpt(SynSignal, func=spectrum, kind="normal")
        wavelength = Cpt(Signal, value=WAVELENGTH_NM, kind="config")
        path_length = Cpt(Signal, value=0.1, kind="config")

    class SimSAXS(Device):
        intensity = Cpt(SynSignal, func=curve, kind="normal")
        intensity_sigma = Cpt(SynSignal, func=lambda: np.full(Q_PER_NM.size, 1e-5))
        q = Cpt(Signal, value=Q_PER_NM, kind="config")

    return reactor, SimUVVis(name="uvvis"), SimSAXS(name="saxs")


def condition_scan(reactor, detectors, conditions, *, md=None, per_step=None):
    """One run, one event per condition ``{t_nuc, t_growth, reaction_time}``.

    ``per_step(index)`` is called after each event (tests use it to stop a server).
    """
    _md = {
        "plan_name": "condition_scan",
        "conditions": [dict(c) for c in conditions],
        "num_points": len(conditions),
    }
    _md.update(md or {})

    @bpp.run_decorator(md=_md)
    def inner():
        for index, condition in enumerate(conditions):
            yield from bps.mv(
                reactor.t_nuc,
                condition["t_nuc"],
                reactor.t_growth,
                condition["t_growth"],
                reactor.reaction_time,
                condition["reaction_time"],
            )
            yield from bps.trigger_and_read([reactor, *detectors])
            if per_step is not None:
                per_step(index)

    return (yield from inner())


def analysis_documents(raw_docs: list[tuple[str, dict]], radius_points: int = 20):
    """A hand-made linked analysis run for a raw run's documents (start has raw_uid)."""
    raw_start = raw_docs[0][1]
    events = [doc for name, doc in raw_docs if name == "event"]
    bundle = compose_run(
        metadata={
            "plan_name": "msc_analysis",
            "raw_uid": raw_start["uid"],
            "raw_plan_name": raw_start.get("plan_name"),
            "conditions": raw_start.get("conditions", []),
            "analysis_version": "test",
        }
    )
    docs: list[tuple[str, dict]] = [("start", bundle.start_doc)]
    data_keys = {
        "raw_seq_num": {"dtype": "integer", "shape": [], "source": "analysis"},
        "t_nuc": {"dtype": "number", "shape": [], "source": "analysis"},
        "phase": {"dtype": "string", "shape": [], "source": "analysis"},
        "fit_ok": {"dtype": "boolean", "shape": [], "source": "analysis"},
        "nc_peak_nm": {"dtype": "number", "shape": [], "source": "analysis"},
        "saxs_radius_nm": {"dtype": "array", "shape": [radius_points], "source": "analysis"},
    }
    desc = bundle.compose_descriptor(name="primary", data_keys=data_keys)
    docs.append(("descriptor", desc.descriptor_doc))
    for event in events:
        absorbance = np.asarray(event["data"]["uvvis_absorbance"])
        data = {
            "raw_seq_num": event["seq_num"],
            "t_nuc": float(event["data"]["reactor_t_nuc"]),
            "phase": "NC" if event["data"]["reactor_t_nuc"] > 250 else "MSC",
            "fit_ok": True,
            "nc_peak_nm": float(WAVELENGTH_NM[int(np.argmax(absorbance))]),
            "saxs_radius_nm": np.linspace(0.2, 3.0, radius_points).tolist(),
        }
        timestamps = dict.fromkeys(data, event["time"])
        docs.append(
            (
                "event",
                desc.compose_event(data=data, timestamps=timestamps, seq_num=event["seq_num"]),
            )
        )
    docs.append(("stop", bundle.compose_stop()))
    return docs


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, message: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until true or raise TimeoutError(message)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: wait() is the polling interval
    while time.monotonic() < deadline:
        if predicate():
            return
        pause.wait(interval)
    raise TimeoutError(message)


class ServeProcess:
    """``msc-bluesky serve`` as a subprocess on a free loopback port; stop() ends it."""

    def __init__(
        self,
        data_dir: Path,
        api_key: str,
        *,
        public: bool = False,
        port=None,
        catalog_uri: str | None = None,
    ):
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        cmd = [
            sys.executable,
            "-m",
            "msc_bluesky.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(self.port),
            "--api-key",
            api_key,
        ]
        if public:
            cmd.append("--public")
        if catalog_uri:
            cmd += ["--catalog-uri", catalog_uri]
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.log = open(Path(data_dir) / f"serve-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._healthy, 90.0, f"tiled server on {self.uri} did not start")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.uri}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (no shutdown of any kind) and wait for it to be gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

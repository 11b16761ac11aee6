"""Shared helpers of the callback tests: synthetic signals, fake fits, hand-made runs."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from event_model import compose_run

from msc_bluesky.callbacks.result_fields import MSC_FAMILIES
from msc_bluesky.physics.spheres import sphere_intensity_cm

WAVELENGTH = np.linspace(300.0, 700.0, 1000)
Q = np.geomspace(0.05, 8.0, 300)


def gaussian(x: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    """Unit-height Gaussian."""
    return np.exp(-4.0 * math.log(2.0) * (x - centre) ** 2 / fwhm**2)


def spectrum(
    msc437: float = 0.3, nc_peak_nm: float = 520.0, nc_height: float = 0.5, rng=None
) -> np.ndarray:
    """MSC band at 437 nm + NC exciton + sloping background (+ optional noise)."""
    a = (
        msc437 * gaussian(WAVELENGTH, 437.0, 9.0)
        + nc_height * gaussian(WAVELENGTH, nc_peak_nm, 40.0)
        + 0.2 * (700.0 - WAVELENGTH) / 400.0
        + 0.05
    )
    if rng is not None:
        a = a + rng.normal(0.0, 1e-3, a.size)
    return a


def saxs_curve(radius_nm: float = 1.5, volume_fraction: float = 1e-3, rng=None):
    """Monodisperse spheres on a flat background; returns (intensity, sigma)."""
    i = sphere_intensity_cm(Q, radius_nm, volume_fraction) + 0.01
    sigma = 0.02 * i + 1e-4
    if rng is not None:
        i = i + rng.normal(0.0, 1.0, i.size) * sigma
    return i, sigma


# -- fake fits with the contract's to_dict keys -------------------------------------


@dataclass
class FakeSpectrumFit:
    """Stands in for analysis.results.SpectrumFit: 'finds' the highest point."""

    nc_peak_nm: float
    detected: tuple[int, ...] = (437,)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in MSC_FAMILIES:
            out[f"msc{f}_detected"] = f in self.detected
            out[f"msc{f}_absorbance"] = 0.3 if f in self.detected else 0.0
            out[f"msc{f}_concentration_molar"] = 1e-5 if f in self.detected else 0.0
        out.update(
            nc_detected=True,
            nc_peak_nm=self.nc_peak_nm,
            nc_fwhm_nm=40.0,
            nc_diameter_nm=2.7,
            nc_units_per_particle=200.0,
            nc_extinction_coefficient=8e4,
            nc_concentration_molar=1e-5,
            extinction_model="fake",
            spectrum_r_squared=0.99,
        )
        return out


def fake_fit_spectrum(wavelength_nm, absorbance, path_length_cm=0.1):
    """NC peak = wavelength of the maximum above 480 nm."""
    lam = np.asarray(wavelength_nm)
    red = lam > 480
    return FakeSpectrumFit(float(lam[red][np.argmax(np.asarray(absorbance)[red])]))


@dataclass
class FakeSizeDistribution:
    """Stands in for analysis.results.SizeDistribution: one population in one bin."""

    radius_nm: np.ndarray
    volume_fraction: np.ndarray
    background: float

    def to_dict(self) -> dict[str, Any]:
        best = int(np.argmax(self.volume_fraction))
        out: dict[str, Any] = {
            "saxs_radius_nm": list(self.radius_nm),
            "saxs_volume_fraction": list(self.volume_fraction),
            "saxs_volume_fraction_sigma": list(self.volume_fraction * 0.1),
            "saxs_background": self.background,
            "saxs_total_volume_fraction": float(self.volume_fraction.sum()),
            "saxs_n_populations": 1,
        }
        for i in (1, 2, 3):
            first = i == 1
            out[f"saxs_pop{i}_radius_nm"] = float(self.radius_nm[best]) if first else math.nan
            out[f"saxs_pop{i}_width_nm"] = 0.05 if first else math.nan
            out[f"saxs_pop{i}_volume_fraction"] = (
                float(self.volume_fraction[best]) if first else math.nan
            )
        return out


N_RADII = 36


def fake_fit_size_distribution(q, intensity, sigma):
    """Best single radius on a grid (scale and background by weighted least squares)."""
    q, y, s = (np.asarray(v, dtype=float) for v in (q, intensity, sigma))
    radius = np.linspace(0.5, 4.0, N_RADII)
    best = (np.inf, 0, 0.0, 0.0)
    for k, r in enumerate(radius):
        basis = np.column_stack([sphere_intensity_cm(q, r, 1.0), np.ones_like(q)]) / s[:, None]
        coef, *_ = np.linalg.lstsq(basis, y / s, rcond=None)
        chi2 = float(np.sum((basis @ coef - y / s) ** 2))
        if chi2 < best[0]:
            best = (chi2, k, coef[0], coef[1])
    phi = np.zeros(N_RADII)
    phi[best[1]] = best[2]
    return FakeSizeDistribution(radius, phi, best[3])


@dataclass
class FakeMesophase:
    def to_dict(self) -> dict[str, Any]:
        return {
            "mesophase_detected": False,
            "mesophase_q1_per_nm": math.nan,
            "mesophase_q2_per_nm": math.nan,
            "mesophase_d_spacing_nm": math.nan,
            "mesophase_lamellar": False,
        }


def fake_find_mesophase(q, intensity):
    return FakeMesophase()


def fake_classify(fit) -> str:
    """Phase from the contract's to_dict keys (works for real and fake fits)."""
    d = fit.to_dict()
    msc = any(d[f"msc{f}_detected"] for f in MSC_FAMILIES)
    nc = bool(d["nc_detected"])
    return {(True, True): "MSC+NC", (True, False): "MSC", (False, True): "NC"}.get(
        (msc, nc), "none"
    )


def failing(*args, **kwargs):
    raise RuntimeError("deliberate fit failure")


FAKE_SETTINGS: dict[str, Any] = {
    "fit_spectrum": fake_fit_spectrum,
    "fit_size_distribution": fake_fit_size_distribution,
    "find_mesophase": fake_find_mesophase,
    "classify": fake_classify,
}


def real_or_fake_settings() -> dict:
    """The real analysis where its module exists, fakes for the parts not written yet."""
    overrides = {}
    for module, names in {
        "msc_bluesky.analysis.uvvis": ("fit_spectrum",),
        "msc_bluesky.analysis.saxs": ("fit_size_distribution", "find_mesophase"),
        "msc_bluesky.analysis.phase": ("classify",),
    }.items():
        try:
            importlib.import_module(module)
        except ImportError:
            overrides.update({n: FAKE_SETTINGS[n] for n in names})
    return overrides


# -- hand-made raw runs -------------------------------------------------------------


class Collector:
    """emit() that keeps (name, doc) pairs."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict]] = []

    def __call__(self, name: str, doc: dict) -> None:
        self.docs.append((name, doc))

    def named(self, name: str) -> list[dict]:
        return [d for n, d in self.docs if n == name]


def raw_run(
    nc_peaks=(500.0, 520.0, 540.0),
    *,
    with_spectrum: bool = True,
    with_saxs: bool = True,
    as_page: bool = False,
    exit_status: str = "success",
    extra_stream: bool = False,
) -> list[tuple[str, dict]]:
    """Documents of a raw run as the plans would write it (compose_run)."""
    conditions = [
        {"t_nuc": 260.0 + 10 * i, "t_growth": 230.0, "reaction_time": 4.5}
        for i in range(len(nc_peaks))
    ]
    bundle = compose_run(
        metadata={"plan_name": "temperature_grid", "conditions": conditions, "scan_id": 7}
    )
    docs: list[tuple[str, dict]] = [("start", bundle.start_doc)]
    data_keys = {
        "reactor_t_nuc": {"source": "sim", "dtype": "number", "shape": []},
        "reactor_t_growth": {"source": "sim", "dtype": "number", "shape": []},
        "reactor_reaction_time": {"source": "sim", "dtype": "number", "shape": []},
    }
    configuration = {}
    if with_spectrum:
        data_keys["uvvis_absorbance"] = {"source": "sim", "dtype": "array", "shape": [1000]}
        configuration["uvvis"] = {
            "data": {"uvvis_wavelength": WAVELENGTH.tolist(), "uvvis_path_length": 0.1},
            "timestamps": {"uvvis_wavelength": 0.0, "uvvis_path_length": 0.0},
            "data_keys": {
                "uvvis_wavelength": {"source": "sim", "dtype": "array", "shape": [1000]},
                "uvvis_path_length": {"source": "sim", "dtype": "number", "shape": []},
            },
        }
    if with_saxs:
        for key in ("saxs_intensity", "saxs_intensity_sigma"):
            data_keys[key] = {"source": "sim", "dtype": "array", "shape": [300]}
        configuration["saxs"] = {
            "data": {"saxs_q": Q.tolist()},
            "timestamps": {"saxs_q": 0.0},
            "data_keys": {"saxs_q": {"source": "sim", "dtype": "array", "shape": [300]}},
        }
    desc = bundle.compose_descriptor(
        name="primary", data_keys=data_keys, configuration=configuration
    )
    docs.append(("descriptor", desc.descriptor_doc))
    if extra_stream:
        dark = bundle.compose_descriptor(
            name="dark",
            data_keys={"uvvis_dark": {"source": "sim", "dtype": "array", "shape": [1000]}},
        )
        docs.append(("descriptor", dark.descriptor_doc))
        docs.append(
            (
                "event",
                dark.compose_event(
                    data={"uvvis_dark": [0.0] * 1000}, timestamps={"uvvis_dark": 0.0}
                ),
            )
        )
    events = []
    for cond, peak in zip(conditions, nc_peaks, strict=False):
        data: dict[str, Any] = {
            "reactor_t_nuc": cond["t_nuc"],
            "reactor_t_growth": cond["t_growth"],
            "reactor_reaction_time": cond["reaction_time"],
        }
        if with_spectrum:
            data["uvvis_absorbance"] = spectrum(nc_peak_nm=peak)
        if with_saxs:
            data["saxs_intensity"], data["saxs_intensity_sigma"] = saxs_curve()
        events.append(desc.compose_event(data=data, timestamps={k: 0.0 for k in data}))
    if as_page:
        from event_model import pack_event_page

        docs.append(("event_page", pack_event_page(*events)))
    else:
        docs.extend(("event", e) for e in events)
    docs.append(("stop", bundle.compose_stop(exit_status=exit_status)))
    return docs


# -- in-process devices and a plan for RunEngine tests ----------------------------


def make_devices(seed: int = 0):
    """Reactor axes and a spectrometer / SAXS detector whose signals follow T_nuc.

    The NC peak moves 0.5 nm per °C from 500 nm at 260 °C; CdSe-437 is always present.
    Returns ``(t_nuc, t_growth, reaction_time, uvvis, saxs)``.
    """
    from ophyd import Component as Cpt
    from ophyd import Device, Signal
    from ophyd.sim import SynAxis
    from ophyd.status import StatusBase

    rng = np.random.default_rng(seed)
    t_nuc = SynAxis(name="reactor_t_nuc")
    t_growth = SynAxis(name="reactor_t_growth")
    reaction_time = SynAxis(name="reactor_reaction_time")

    def done() -> StatusBase:
        status = StatusBase()
        status.set_finished()
        return status

    class Spectrometer(Device):
        absorbance = Cpt(Signal, value=np.zeros(WAVELENGTH.size), kind="normal")
        dark = Cpt(Signal, value=np.zeros(WAVELENGTH.size), kind="omitted")
        wavelength = Cpt(Signal, value=WAVELENGTH, kind="config")
        path_length = Cpt(Signal, value=0.1, kind="config")

        def trigger(self):
            peak = 500.0 + 0.5 * (t_nuc.readback.get() - 260.0)
            self.absorbance.put(spectrum(nc_peak_nm=peak, rng=rng))
            return done()

    class SaxsDetector(Device):
        intensity = Cpt(Signal, value=np.zeros(Q.size), kind="normal")
        intensity_sigma = Cpt(Signal, value=np.zeros(Q.size), kind="normal")
        q = Cpt(Signal, value=Q, kind="config")

        def trigger(self):
            radius = 1.2 + 0.01 * (t_nuc.readback.get() - 260.0)
            i, s = saxs_curve(radius_nm=radius, rng=rng)
            self.intensity.put(i)
            self.intensity_sigma.put(s)
            return done()

    return t_nuc, t_growth, reaction_time, Spectrometer(name="uvvis"), SaxsDetector(name="saxs")


def grid_plan(devices, t_nucs=(260.0, 270.0, 280.0), t_growth=230.0, reaction_time=4.5):
    """One dark reading in stream "dark", then one primary event per nucleation temperature."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp

    t_nuc, tg, rt, uvvis, saxs = devices
    md = {
        "plan_name": "temperature_grid",
        "conditions": [
            {"t_nuc": t, "t_growth": t_growth, "reaction_time": reaction_time} for t in t_nucs
        ],
        "num_points": len(t_nucs),
    }

    @bpp.run_decorator(md=md)
    def inner():
        yield from bps.mv(tg, t_growth, rt, reaction_time)
        yield from bps.trigger_and_read([uvvis.dark], name="dark")
        for t in t_nucs:
            yield from bps.mv(t_nuc, t)
            yield from bps.trigger_and_read([t_nuc, tg, rt, uvvis, saxs])

    return (yield from inner())

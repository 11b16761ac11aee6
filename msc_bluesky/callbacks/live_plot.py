"""Live plot of the latest analysed point: spectrum with bands marked, SAXS with its fit.

matplotlib is imported only when a :class:`LivePlot` is created, so importing
``msc_bluesky.callbacks`` stays cheap and safe in the queue-server startup.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from msc_bluesky.callbacks.live_table import msc_families_detected
from msc_bluesky.callbacks.point_analysis import PointResult
from msc_bluesky.physics.spheres import (
    CDSE_CONTRAST_NM2,
    sphere_form_factor,
    sphere_volume_nm3,
)


def size_distribution_model(
    q_per_nm: np.ndarray,
    radius_nm: np.ndarray,
    volume_fraction: np.ndarray,
    background: float,
    contrast_nm2: float = CDSE_CONTRAST_NM2,
) -> np.ndarray:
    """I(q) in cm^-1 of a histogram of spheres: ``Σ φ_i V_i Δρ² P(q, R_i) + background``.

    Parameters
    ----------
    q_per_nm : array
        Scattering vector (nm^-1).
    radius_nm, volume_fraction : array
        Radius grid (nm) and the volume fraction in each bin.
    background : float
        Flat background (cm^-1); NaN counts as 0.
    contrast_nm2 : float
        Scattering-length-density contrast (nm^-2).
    """
    q = np.asarray(q_per_nm, dtype=float)
    r = np.asarray(radius_nm, dtype=float)
    phi = np.nan_to_num(np.asarray(volume_fraction, dtype=float))
    ok = np.isfinite(r) & (r > 0)
    r, phi = r[ok], phi[ok]
    form = sphere_form_factor(q[:, None], r[None, :])
    intensity = form @ (phi * sphere_volume_nm3(r)) * contrast_nm2**2 * 1e7
    return intensity + (0.0 if not np.isfinite(background) else float(background))


def _radius_span(radius: np.ndarray, phi: np.ndarray, floor_nm: float = 3.0) -> float:
    """Upper radius limit that shows the distribution: 1.5× the radius below which
    99.5 % of the volume lies (at least ``floor_nm``), not the whole inversion grid."""
    weights = np.clip(np.nan_to_num(phi), 0.0, None)
    total = float(weights.sum())
    if total <= 0:
        return float(max(floor_nm, np.nanmax(radius) if radius.size else floor_nm))
    r995 = float(radius[np.searchsorted(np.cumsum(weights), 0.995 * total)])
    return max(floor_nm, 1.5 * r995)


class LivePlot:
    """Listener of :class:`LiveAnalysis` that redraws the latest point.

    Three panels: absorbance with a dashed vertical line at every detected MSC band
    (gid ``"msc<F>"``), a solid one at the NC peak (gid ``"nc"``) and the fitted model
    (gid ``"spectrum_fit"``, when the fit provides one); I(q) with the fitted model (gid
    ``"saxs_fit"``); the volume-fraction size distribution (gid ``"distribution"``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure, optional
        Figure to draw into; by default a new ``pyplot`` figure.
    """

    def __init__(self, fig: Any = None) -> None:
        if fig is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(12, 4), layout="constrained")
        self.fig = fig
        self.ax_spectrum, self.ax_saxs, self.ax_distribution = fig.subplots(1, 3)
        self.updates = 0

    def __call__(self, result: PointResult) -> None:
        """Redraw all panels for ``result``."""
        row = result.row
        title = (
            f"seq {row.get('raw_seq_num')}: T_nuc {row.get('t_nuc', float('nan')):.0f} °C, "
            f"T_growth {row.get('t_growth', float('nan')):.0f} °C, "
            f"t {row.get('reaction_time', float('nan')):.2f} s, {row.get('phase')}"
        )
        self._draw_spectrum(result)
        self._draw_saxs(result)
        self.fig.suptitle(title)
        self.updates += 1
        self.fig.canvas.draw_idle()

    def _draw_spectrum(self, result: PointResult) -> None:
        ax, p, row = self.ax_spectrum, result.point, result.row
        ax.clear()
        ax.set_xlabel("wavelength (nm)")
        ax.set_ylabel("absorbance")
        if not p.has_spectrum:
            ax.set_title("no spectrum")
            return
        ax.plot(p.wavelength_nm, p.absorbance, color="k", lw=1, gid="spectrum")
        model = getattr(result.spectrum_fit, "model", None)
        if model is not None and np.shape(model) == np.shape(p.wavelength_nm):
            ax.plot(p.wavelength_nm, model, color="tab:orange", lw=1, gid="spectrum_fit")
        for family in msc_families_detected(row):
            ax.axvline(
                family, color="tab:blue", ls="--", lw=1, gid=f"msc{family}", label=f"CdSe-{family}"
            )
        if row.get("nc_detected") and np.isfinite(row.get("nc_peak_nm", np.nan)):
            peak = row["nc_peak_nm"]
            ax.axvline(peak, color="tab:red", lw=1.5, gid="nc", label=f"NC {peak:.0f} nm")
        ax.set_title("UV-Vis" if row.get("fit_ok") else "UV-Vis (fit failed)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize="small")

    def _draw_saxs(self, result: PointResult) -> None:
        ax, dist_ax, p, row = self.ax_saxs, self.ax_distribution, result.point, result.row
        ax.clear()
        dist_ax.clear()
        ax.set_xlabel("q (nm$^{-1}$)")
        ax.set_ylabel("I (cm$^{-1}$)")
        dist_ax.set_xlabel("radius (nm)")
        dist_ax.set_ylabel("volume fraction")
        if not p.has_saxs:
            ax.set_title("no SAXS")
            return
        positive = p.intensity > 0
        ax.loglog(
            p.q_per_nm[positive], p.intensity[positive], ".", ms=2, color="k", gid="saxs_data"
        )
        radius = np.asarray(row.get("saxs_radius_nm") or [], dtype=float)
        phi = np.asarray(row.get("saxs_volume_fraction") or [], dtype=float)
        if radius.size and radius.size == phi.size:
            model = getattr(result.size_distribution, "model", None)
            if model is None or np.shape(model) != np.shape(p.q_per_nm):
                model = size_distribution_model(p.q_per_nm, radius, phi, row["saxs_background"])
            ax.loglog(p.q_per_nm, model, color="tab:red", gid="saxs_fit", label="fit")
            dist_ax.plot(radius, phi, drawstyle="steps-mid", color="tab:green", gid="distribution")
            dist_ax.set_xlim(0.0, _radius_span(radius, phi))
        if row.get("mesophase_detected"):
            for key in ("mesophase_q1_per_nm", "mesophase_q2_per_nm"):
                if np.isfinite(row.get(key, np.nan)):
                    ax.axvline(row[key], color="tab:purple", ls=":", gid=key)
        ax.set_title("SAXS")

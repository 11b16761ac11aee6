"""Plain data behind the report figures: one record per measured condition.

A :class:`ConditionRecord` joins one event of a raw run (temperatures, reaction time,
UV-Vis spectrum, SAXS curve) with the matching event of its linked ``msc_analysis`` run
(phase, MSC families, size distribution, mesophase peaks). The figure functions take
lists of these records, so they can be fed from tiled, from files or from synthetic
arrays in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from msc_bluesky.physics.sizing import MSC_FAMILIES_NM

#: Phases the analysis reports, in the order the phase map colours them.
PHASES: tuple[str, ...] = ("none", "NC", "MSC+NC", "MSC")

_T = TypeVar("_T")


@dataclass
class ConditionRecord:
    """One measured condition, raw curves plus analysis results.

    Parameters
    ----------
    t_nuc, t_growth : float
        Nucleation and growth temperature (°C): the setpoint when the run recorded it,
        else the readback.
    reaction_time : float
        Reaction time (s), requested value when recorded, else the readback.
    wavelength_nm, absorbance : numpy.ndarray or None
        UV-Vis spectrum (nm, absorbance), or None when not measured.
    q_per_nm, intensity, intensity_sigma : numpy.ndarray or None
        SAXS curve (nm^-1, cm^-1), or None when not measured.
    analysis : Mapping
        The linked analysis event (keys of ``docs/architecture.md``: ``phase``,
        ``msc437_detected``, ``saxs_radius_nm``, ``mesophase_q1_per_nm`` ...); empty
        when no analysis run exists.
    plan_name, raw_uid, seq_num, time
        Where the record came from: plan, raw run start uid, event sequence number and
        event time (s since the epoch).
    """

    t_nuc: float
    t_growth: float
    reaction_time: float
    wavelength_nm: np.ndarray | None = None
    absorbance: np.ndarray | None = None
    q_per_nm: np.ndarray | None = None
    intensity: np.ndarray | None = None
    intensity_sigma: np.ndarray | None = None
    analysis: Mapping[str, Any] = field(default_factory=dict)
    plan_name: str = ""
    raw_uid: str = ""
    seq_num: int = 0
    time: float = float("nan")

    @property
    def has_spectrum(self) -> bool:
        """True when the record holds a UV-Vis spectrum."""
        return self.wavelength_nm is not None and self.absorbance is not None

    @property
    def has_saxs(self) -> bool:
        """True when the record holds a SAXS curve."""
        return self.q_per_nm is not None and self.intensity is not None

    @property
    def phase(self) -> str | None:
        """The analysis phase label (``"MSC"``, ``"MSC+NC"``, ``"NC"``, ``"none"``) or None."""
        value = self.analysis.get("phase")
        return None if value is None else str(value)

    @property
    def detected_families(self) -> tuple[int, ...]:
        """MSC families (nm) the analysis detected in this spectrum."""
        return tuple(
            f for f in MSC_FAMILIES_NM if bool(self.analysis.get(f"msc{f}_detected", False))
        )

    @property
    def size_distribution(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(radius_nm, volume_fraction)`` from the analysis, or None when absent."""
        r = self.analysis.get("saxs_radius_nm")
        phi = self.analysis.get("saxs_volume_fraction")
        if r is None or phi is None:
            return None
        r, phi = np.asarray(r, dtype=float), np.asarray(phi, dtype=float)
        ok = np.isfinite(r) & np.isfinite(phi)
        if r.ndim != 1 or r.shape != phi.shape or not ok.any():
            return None
        return r[ok], phi[ok]

    @property
    def bragg_peaks_q(self) -> tuple[float, ...]:
        """Mesophase Bragg peak positions (nm^-1) the analysis found, if any."""
        if not bool(self.analysis.get("mesophase_detected", False)):
            return ()
        qs = (self.analysis.get(k) for k in ("mesophase_q1_per_nm", "mesophase_q2_per_nm"))
        return tuple(float(q) for q in qs if q is not None and np.isfinite(float(q)))


def temperature_key(value: float) -> float:
    """Group temperatures (°C) to the nearest 1 °C."""
    return float(np.round(value, 0))


def time_key(value: float) -> float:
    """Group reaction times (s) to the nearest 0.1 s."""
    return float(np.round(value, 1))


def group_by(items: Iterable[_T], key: Callable[[_T], Hashable]) -> dict[Hashable, list[_T]]:
    """Group items by ``key(item)``, keys sorted, items in their original order."""
    groups: dict[Hashable, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return dict(sorted(groups.items()))


def latest_per(
    records: Sequence[ConditionRecord], key: Callable[[ConditionRecord], Hashable]
) -> list[ConditionRecord]:
    """Keep one record per key: the last one measured (by ``time``, then list order)."""
    chosen: dict[Hashable, tuple[float, int, ConditionRecord]] = {}
    for i, rec in enumerate(records):
        t = rec.time if np.isfinite(rec.time) else -np.inf
        k = key(rec)
        if k not in chosen or (t, i) >= chosen[k][:2]:
            chosen[k] = (t, i, rec)
    return [v[2] for _, v in sorted(chosen.items(), key=lambda kv: kv[0])]


def most_common_time(records: Sequence[ConditionRecord]) -> float | None:
    """The reaction time (s, 0.1 s bins) measured most often; ties go to the longest."""
    if not records:
        return None
    counts: dict[float, int] = {}
    for rec in records:
        counts[time_key(rec.reaction_time)] = counts.get(time_key(rec.reaction_time), 0) + 1
    return max(counts, key=lambda t: (counts[t], t))

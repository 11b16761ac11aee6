"""The kinetic model over many conditions at once: one vectorised ODE system.

:func:`msc_bluesky.sim.simulate_kinetics` integrates one condition at a time, with a
right-hand side in plain Python (~200 calls per zone and condition, ~0.2 s for the
86-condition campaign). The fit runs the model ~500 times, so here every condition's
equations (the same ones, ``msc_bluesky.sim.kinetics``) are stacked into one system and
integrated together on a common scaled time ``τ ∈ [0, 1]`` (``dy/dτ = duration · f``),
first the chamber at each T_nuc, then the oven at each T_growth. The right-hand side is
numpy over conditions, so a run costs about as many calls as the hardest condition.
The step control is at least as strict for every condition as alone (same ``rtol`` and
``atol``, the step set by the hardest one), so results agree with
:func:`~msc_bluesky.sim.simulate_kinetics` to the integration tolerance;
:func:`batch_compositions` falls back to one condition at a time if the stacked
integration fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.integrate import odeint

from msc_bluesky.limits import check_reaction_time, check_temperature
from msc_bluesky.sim import KineticParameters, ReactorGeometry, simulate_kinetics
from msc_bluesky.sim.chamber import STATE, closed_shell_fraction, initial_state
from msc_bluesky.sim.composition import FAMILY_UNITS, UNITS_PER_NM3, nc_radius_from_units
from msc_bluesky.sim.kinetics import Composition, composition_of

_RATES = ("precursor", "nucleation", "403", "437", "465", "nc", "growth", "ripening")
_N = len(STATE)


def _rates(params: KineticParameters, temperatures: np.ndarray) -> np.ndarray:
    """Rate constants, shape (8, n): rows in :data:`_RATES` order."""
    cache: dict[float, list[float]] = {}
    cols = []
    for t in temperatures:
        t = float(t)
        if t not in cache:
            cache[t] = [params.rate(n, t) for n in _RATES]
        cols.append(cache[t])
    return np.array(cols, dtype=float).T


def _rhs_factory(rates: np.ndarray, closed: np.ndarray, duration: np.ndarray):
    """Stacked right-hand side in scaled time; ``closed`` NaN-free, zero in the oven."""
    kp, kn, k403, k437, k465, knc, kg, kr = rates
    a = UNITS_PER_NM3 * 4.0 / 3.0 * math.pi
    a23 = a ** (2.0 / 3.0)
    g_per_m = kg * a ** (-1.0 / 3.0) / 3.0
    r0 = nc_radius_from_units(FAMILY_UNITS[467])
    n350, n403, n437, n467 = (FAMILY_UNITS[f] for f in (350, 403, 437, 467))
    n = duration.size
    out = np.empty((n, _N))

    def rhs(y, _t):
        p, m, o350, o403, o437, o467, c350, c403, _c437, n0, m1, m2, _m3 = y.reshape(n, _N).T
        m = np.maximum(m, 0.0)
        rp = kp * p
        rn = kn * m * m
        ro403, rc403 = k403 * o350 * m, k403 * c350 * m
        ro437, rc437 = k437 * o403 * m, k437 * c403 * m
        r465 = k465 * o437 * m
        rnc = knc * o467 * m
        g = g_per_m * m
        ok = m1 > 1e-30
        with np.errstate(divide="ignore", invalid="ignore"):
            focus = np.where(ok, 2.0 * g * (m2 - m1 * m1 / n0) * n0 / np.where(ok, m1, 1.0), 0.0)
        ripened = kr * (n350 * o350 + n403 * o403 + n437 * o437 + n467 * o467)
        out[:, 0] = -rp
        out[:, 1] = (
            rp
            - n350 * rn
            - (n403 - n350) * (ro403 + rc403)
            - (n437 - n403) * (ro437 + rc437)
            - (n467 - n437) * r465
            - kg * m * a23 * m2
            + ripened
        )
        out[:, 2] = (1.0 - closed) * rn - ro403 - kr * o350
        out[:, 3] = ro403 - ro437 - kr * o403
        out[:, 4] = ro437 - r465 - kr * o437
        out[:, 5] = r465 - rnc - kr * o467
        out[:, 6] = closed * rn - rc403
        out[:, 7] = rc403 - rc437
        out[:, 8] = rc437
        out[:, 9] = rnc
        out[:, 10] = g * n0 + rnc * r0
        out[:, 11] = 2.0 * g * m1 + rnc * r0 * r0 - focus
        out[:, 12] = 3.0 * g * m2 + rnc * r0**3
        return (out * duration[:, None]).ravel()

    return rhs


def _integrate(rates, closed, duration, y0: np.ndarray) -> np.ndarray:
    """All conditions over scaled time 0..1; raises ArithmeticError if it fails."""
    rhs = _rhs_factory(rates, closed, duration)
    y, info = odeint(
        rhs, y0.ravel(), (0.0, 1.0), rtol=1e-6, atol=1e-10, mxstep=20000,
        ml=_N - 1, mu=_N - 1, full_output=True,
    )
    if info["message"] != "Integration successful." or not np.all(np.isfinite(y[-1])):
        raise ArithmeticError(f"stacked kinetics failed: {info['message']}")
    return y[-1].reshape(duration.size, _N)


def batch_compositions(
    conditions: Sequence[tuple[float, float, float]],
    params: KineticParameters,
    geometry: ReactorGeometry | None = None,
) -> list[Composition | None]:
    """What leaves the reactor at every ``(t_nuc, t_growth, reaction_time)``.

    Same model and tolerances as :func:`msc_bluesky.sim.simulate_kinetics`, all
    conditions integrated together. A condition outside the reactor's limits gives
    ``None``; if the stacked integration fails, each condition is run alone (``None``
    where that fails too).

    Parameters
    ----------
    conditions : sequence of (t_nuc, t_growth, reaction_time)
    params : KineticParameters
    geometry : ReactorGeometry, optional

    Returns
    -------
    list of Composition or None
    """
    geometry = geometry or ReactorGeometry()
    valid, rows = [], []
    for i, (tn, tg, t) in enumerate(conditions):
        try:
            rows.append((check_temperature("t_nuc", tn), check_temperature("t_growth", tg),
                         *geometry.split(check_reaction_time(t))))
        except ValueError:
            continue
        valid.append(i)
    out: list[Composition | None] = [None] * len(conditions)
    if not valid:
        return out
    tn, tg, t_ch, t_ov = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    try:
        y0 = np.array([initial_state(params, a, b) for a, b in zip(tn, tg, strict=True)])
        closed = np.array([closed_shell_fraction(params, a) for a in tn])
        y = _integrate(_rates(params, tn), closed, t_ch, y0)
        rates = _rates(params, tg)
        rates[1] = 0.0  # no nucleation in the oven
        y = _integrate(rates, np.zeros_like(closed), t_ov, y)
    except (ArithmeticError, ValueError):
        for i in valid:
            try:
                out[i] = simulate_kinetics(*conditions[i], geometry=geometry, params=params)
            except (ArithmeticError, ValueError):
                pass
        return out
    for k, i in enumerate(valid):
        out[i] = composition_of(y[k], params)
    return out

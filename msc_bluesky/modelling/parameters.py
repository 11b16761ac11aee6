"""Which parameters of the kinetic model are fitted, and in which coordinates.

The parameter set is discovered from ``dataclasses.fields(KineticParameters)``, so the
fit follows the model when its parameters change. By naming convention the rate
constants are ``k_<name>`` (at the model's reference temperature) and the activation
energies ``ea_<name>`` (kJ/mol). The free parameters by default are those and the
**closed-shell switch** of the nucleation chamber (``closed_shell_*`` fields): the
T_nuc onset and limit (°C) between which nuclei are born closed-shell and the largest
closed-shell fraction. In the model that switch, not an activation energy, sets the
T_nuc window where CdSe-437 persists, so a fit that is to predict the window must move
it. The switch's logistic widths (``*_width_c``, 1 °C in the twin) stay held: a campaign
sampling T_nuc every 10 °C sees at most one point on a 1 °C flank and cannot resolve a
width. Everything else is held at the model's value.

Internally a positive rate constant is fitted as ``ln k`` (rates span decades and must
stay positive), an activation energy as itself, a temperature (``*_c``) as itself in °C
and a fraction (``*_max``, ``*_fraction``) as itself within [0, 1]; other parameters a
user frees are fitted as they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from msc_bluesky.sim import KineticParameters

#: Prefixes of the rate constants and activation energies (the default free set).
RATE_PREFIX = "k_"
ENERGY_PREFIX = "ea_"
#: Prefix of the closed-shell switch of the chamber (free by default, but its widths).
SWITCH_PREFIX = "closed_shell_"
#: Suffix of a temperature field (°C), and of the width (°C) of a logistic switch; the
#: width of switch temperature ``<stem>_c`` is the field ``<stem>_width_c``.
TEMPERATURE_SUFFIX = "_c"
WIDTH_SUFFIX = "_width_c"
#: Suffixes of a fraction (kept within FRACTION_BOUNDS).
FRACTION_SUFFIXES = ("_max", "_fraction")

#: A rate constant may move at most this factor away from its starting value.
RATE_RANGE_FACTOR = 1.0e4
#: Bounds (kJ/mol) of a fitted activation energy.
ENERGY_BOUNDS_KJ = (-50.0, 800.0)
#: A fitted temperature may move at most this far (°C) from its starting value.
TEMPERATURE_RANGE_C = 40.0
#: Bounds of a fitted fraction.
FRACTION_BOUNDS = (0.0, 1.0)

#: Gas constant (kJ mol^-1 K^-1) of the Arrhenius form ``k(T) = k exp(-Ea/R (1/T - 1/T_ref))``.
GAS_CONSTANT_KJ = 8.314462618e-3

#: Field of the model's reference temperature (°C) of the ``k_*`` values, and its
#: fallback when the model has no such field.
REFERENCE_TEMPERATURE_FIELD = "reference_temperature_c"
DEFAULT_REFERENCE_TEMPERATURE_C = 280.0

#: Finite-difference steps of the Jacobian: in ln k, in kJ/mol, and relative for others.
STEP_LN_RATE = 2.0e-3
STEP_ENERGY_KJ = 0.2
STEP_RELATIVE = 1.0e-3
#: Step of a switch temperature, as a fraction of its logistic width: a forward
#: difference over h is off by ~h/(2 w) of the slope on a flank of width w, so 0.05 w
#: keeps it within ~3 %. (A relative step, 1e-3 of 265 °C = 0.27 °C, would be a quarter
#: of a 1 °C width.) Temperatures without a width get STEP_TEMPERATURE_C.
STEP_WIDTH_FRACTION = 0.05
STEP_TEMPERATURE_C = 0.05


def reference_temperature_c(params: KineticParameters) -> float:
    """Temperature (°C) at which the model's ``k_*`` values apply."""
    return float(getattr(params, REFERENCE_TEMPERATURE_FIELD, DEFAULT_REFERENCE_TEMPERATURE_C))


def parameter_names() -> tuple[str, ...]:
    """Every field of :class:`msc_bluesky.sim.KineticParameters`, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(KineticParameters))


def default_free_parameters() -> tuple[str, ...]:
    """The ``k_*`` rates, ``ea_*`` energies and closed-shell switch of the model.

    The switch is every ``closed_shell_*`` field but its logistic widths
    (``*_width_c``), which a campaign's T_nuc grid cannot resolve.
    """
    return tuple(
        n for n in parameter_names()
        if is_rate(n) or is_energy(n) or (is_switch(n) and not is_width(n))
    )


def is_rate(name: str) -> bool:
    """True for a rate constant (``k_<name>``)."""
    return name.startswith(RATE_PREFIX)


def is_energy(name: str) -> bool:
    """True for an activation energy (``ea_<name>``)."""
    return name.startswith(ENERGY_PREFIX)


def is_switch(name: str) -> bool:
    """True for a parameter of the closed-shell switch (``closed_shell_*``)."""
    return name.startswith(SWITCH_PREFIX)


def is_width(name: str) -> bool:
    """True for the width (°C) of a logistic switch (``*_width_c``)."""
    return name.endswith(WIDTH_SUFFIX)


def is_temperature(name: str) -> bool:
    """True for a temperature (°C) that is not a width (``*_c``)."""
    return name.endswith(TEMPERATURE_SUFFIX) and not is_width(name)


def is_fraction(name: str) -> bool:
    """True for a fraction in [0, 1] (``*_max``, ``*_fraction``)."""
    return name.endswith(FRACTION_SUFFIXES)


def width_of(name: str, params: KineticParameters) -> float | None:
    """The logistic width (°C) of switch temperature ``name``, if the model has one."""
    width = name[: -len(TEMPERATURE_SUFFIX)] + WIDTH_SUFFIX
    value = getattr(params, width, None)
    return float(value) if value is not None and float(value) > 0 else None


def _check_names(names: Iterable[str], what: str) -> list[str]:
    allowed = parameter_names()
    names = list(names)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(
            f"{what}: unknown parameter(s) {unknown}; the kinetic model's parameters are "
            + ", ".join(allowed)
        )
    return names


def _finite(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} = {value!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"parameter {name} = {value!r} must be finite")
    return v


@dataclass(frozen=True)
class ParameterSpace:
    """The free parameters, their internal coordinates and the held parameters.

    Attributes
    ----------
    base : KineticParameters
        Held values (and the model's reference temperature).
    free : tuple of str
        Names of the fitted parameters.
    start : numpy.ndarray
        Starting values of the free parameters (model units).
    log_scaled : numpy.ndarray of bool
        Which free parameters are fitted as their logarithm.
    """

    base: KineticParameters
    free: tuple[str, ...]
    start: np.ndarray
    log_scaled: np.ndarray

    @property
    def held(self) -> tuple[str, ...]:
        """Names of the parameters held at ``base``."""
        return tuple(n for n in parameter_names() if n not in self.free)

    def to_internal(self, values: np.ndarray) -> np.ndarray:
        """Model units -> fit coordinates."""
        v = np.asarray(values, dtype=float)
        return np.where(self.log_scaled, np.log(np.where(self.log_scaled, v, 1.0)), v)

    def to_model(self, u: np.ndarray) -> np.ndarray:
        """Fit coordinates -> model units."""
        u = np.array(u, dtype=float)
        u[self.log_scaled] = np.exp(u[self.log_scaled])
        return u

    def params(self, u: np.ndarray) -> KineticParameters:
        """The full parameter set at fit coordinates ``u``."""
        values = self.to_model(u)
        return dataclasses.replace(
            self.base, **{n: float(v) for n, v in zip(self.free, values, strict=True)}
        )

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds in fit coordinates."""
        u0 = self.to_internal(self.start)
        lo = np.full(u0.shape, -np.inf)
        hi = np.full(u0.shape, np.inf)
        for i, name in enumerate(self.free):
            if self.log_scaled[i]:
                span = math.log(RATE_RANGE_FACTOR)
                lo[i], hi[i] = u0[i] - span, u0[i] + span
            elif is_energy(name):
                lo[i], hi[i] = ENERGY_BOUNDS_KJ
            elif is_temperature(name):
                lo[i], hi[i] = u0[i] - TEMPERATURE_RANGE_C, u0[i] + TEMPERATURE_RANGE_C
            elif is_fraction(name):
                lo[i], hi[i] = FRACTION_BOUNDS
        return lo, hi

    def steps(self, u: np.ndarray) -> np.ndarray:
        """Finite-difference step of each fit coordinate at ``u``."""
        out = np.empty(len(self.free))
        for i, name in enumerate(self.free):
            if self.log_scaled[i]:
                out[i] = STEP_LN_RATE
            elif is_energy(name):
                out[i] = STEP_ENERGY_KJ
            elif is_temperature(name):
                width = width_of(name, self.base)
                out[i] = STEP_WIDTH_FRACTION * width if width else STEP_TEMPERATURE_C
            else:
                out[i] = STEP_RELATIVE * max(abs(float(u[i])), 1e-3)
        return out


def parameter_space(
    parameters: Iterable[str] | Mapping[str, float] | None = None,
    fixed: Iterable[str] | Mapping[str, float] | None = None,
    base: KineticParameters | None = None,
) -> ParameterSpace:
    """Resolve which parameters are fitted, from where, and what is held.

    Parameters
    ----------
    parameters : iterable of str or mapping, optional
        Names to fit (starting from ``base``), or name -> starting value. Default:
        :func:`default_free_parameters` minus those in ``fixed``.
    fixed : iterable of str or mapping, optional
        Names held at ``base``, or name -> held value.
    base : KineticParameters, optional
        The parameter set to start from and to hold (default: the model's defaults,
        the twin's parameters).

    Returns
    -------
    ParameterSpace

    Raises
    ------
    ValueError
        On unknown names, a name both fitted and held, non-finite values, or nothing
        left to fit.
    """
    base = base or KineticParameters()
    held_values: dict[str, float] = {}
    if fixed is not None:
        if isinstance(fixed, Mapping):
            _check_names(fixed, "fixed")
            held_values = {n: _finite(n, v) for n, v in fixed.items()}
        else:
            held_values = {n: getattr(base, n) for n in _check_names(fixed, "fixed")}
    starts: dict[str, float] = {}
    if parameters is None:
        free = [n for n in default_free_parameters() if n not in held_values]
    elif isinstance(parameters, Mapping):
        free = _check_names(parameters, "parameters")
        starts = {n: _finite(n, v) for n, v in parameters.items()}
    else:
        free = _check_names(parameters, "parameters")
    both = sorted(set(free) & set(held_values)) if parameters is not None else []
    if both:
        raise ValueError(f"parameter(s) {both} cannot be both fitted and fixed")
    if len(set(free)) != len(free):
        raise ValueError(f"parameters lists a name twice: {free}")
    if not free:
        raise ValueError("nothing to fit: every parameter is fixed")
    base = dataclasses.replace(base, **held_values) if held_values else base
    start = np.array([starts.get(n, getattr(base, n)) for n in free], dtype=float)
    log_scaled = np.array([is_rate(n) and s > 0 for n, s in zip(free, start, strict=True)])
    for n, s in zip(free, start, strict=True):
        if is_rate(n) and s <= 0:
            raise ValueError(f"rate constant {n} must start > 0, got {s}")
    return ParameterSpace(base=base, free=tuple(free), start=start, log_scaled=log_scaled)

"""Fit the kinetic model's Arrhenius parameters to a campaign's stored analysis.

:func:`fit_kinetics` compares the model (through :mod:`.observables`) with every
measured observable of every condition, each weighted by its standard uncertainty, and
minimises ``χ² = Σ ((model − measured) / σ)²`` with :func:`scipy.optimize.least_squares`
(trust-region reflective, bounded) in ``ln k``, ``Ea`` and, for the closed-shell
switch, °C and fraction (:mod:`.parameters`). The Jacobian is taken by
forward differences, one model run over the campaign per free parameter, optionally
spread over processes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from msc_bluesky.modelling.data import MeasuredCondition, measured_conditions, unique_conditions
from msc_bluesky.modelling.discrepancy import estimate_scales, leverages
from msc_bluesky.modelling.evaluate import ModelRunner
from msc_bluesky.modelling.identifiability import (
    HUBER_K,
    RELATIVE_ERROR_LIMIT,
    TEMPERATURE_ERROR_LIMIT_C,
    covariance_from_jacobian,
    robust_chi2,
    robust_weights,
    sampling_error,
    sandwich_covariance,
    select_identifiable,
    stderr_in_model_units,
)
from msc_bluesky.modelling.observables import (
    DETECTION_ABSORBANCE,
    OBSERVABLE_NAMES,
    OBSERVABLES,
    UNPREDICTED_RESIDUAL,
    model_observables,
    path_length_of,
    reported_noise,
)
from msc_bluesky.modelling.parameters import (
    is_temperature,
    parameter_names,
    parameter_space,
    width_of,
)
from msc_bluesky.modelling.profile import profile_errors
from msc_bluesky.modelling.window import (
    WINDOW_SCAN_C,
    main_window,
    persistence_segments,
    window_sensitivity,
)
from msc_bluesky.sim import KineticParameters, ReactorGeometry, simulate_kinetics

#: Reaction times (s) at which the CLI reports the predicted CdSe-437 window.
WINDOW_REACTION_TIMES_S: tuple[float, ...] = (4.5, 7.6, 14.0)

#: Largest number of residual evaluations (each one model run over the campaign, plus
#: one per free parameter for each Jacobian).
DEFAULT_MAX_EVALUATIONS = 100

#: Relative tolerances of the optimiser on the cost and on the parameters: a change of
#: χ² by 1e-4 of itself is far below its statistical scatter (~sqrt(2 n)).
FIT_TOLERANCE = 1.0e-4

#: Tolerances of the first fit (every parameter free): it only has to find the valley;
#: the parameters it does not identify are then held and the rest refitted to
#: FIT_TOLERANCE.
FIRST_FIT_TOLERANCE = 1.0e-3

#: Reduced χ² above which the fit warns that model or uncertainties do not fit the data.
CHI2_WARNING = 3.0

_COLUMN = {n: i for i, n in enumerate(OBSERVABLE_NAMES)}
_FITTED = {o.name for o in OBSERVABLES if o.in_fit}

ProgressCallback = Callable[[int, float], Any]


@dataclass(frozen=True)
class FittedParameter:
    """One parameter of the kinetic model after the fit.

    Attributes
    ----------
    name : str
        Field of :class:`msc_bluesky.sim.KineticParameters`.
    value, stderr : float
        Value in model units and its standard error (NaN when held, inf when the data
        do not constrain it).
    start : float
        Starting (or held) value.
    held : bool
        Held at ``value``, not fitted.
    identifiable : bool
        Fitted and identified by the data (see :mod:`.identifiability`).
    reason : str
        Why it is (not) identified, or "held".
    """

    name: str
    value: float
    stderr: float
    start: float
    held: bool
    identifiable: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"value", "stderr", "identifiable", "held", "reason"}`` (non-finite errors as
        None; ``held`` is True for a parameter the user held, a parameter the data do
        not identify is held at its reference value with ``identifiable`` False and the
        reason)."""
        err = self.stderr if math.isfinite(self.stderr) else None
        return {
            "value": self.value,
            "stderr": err,
            "identifiable": self.identifiable,
            "held": self.held,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ConditionResidual:
    """Measured against fitted at one condition.

    Attributes
    ----------
    t_nuc, t_growth, reaction_time : float
    raw_uid : str or None
    measured, model, sigma : dict
        Per observable measured there (model NaN where it predicts nothing).
    normalized : dict
        ``(model − measured) / σ`` of the fitted observables.
    """

    t_nuc: float
    t_growth: float
    reaction_time: float
    raw_uid: str | None
    measured: dict[str, float]
    model: dict[str, float]
    sigma: dict[str, float]
    normalized: dict[str, float]

    @property
    def chi2(self) -> float:
        """This condition's share of χ²."""
        return float(sum(v * v for v in self.normalized.values()))


@dataclass
class KineticFit:
    """Result of :func:`fit_kinetics`.

    Attributes
    ----------
    parameters : dict[str, FittedParameter]
        Every model parameter (fitted and held), in the model's order.
    params : KineticParameters
        The best-fit parameter set.
    free : tuple of str
        Fitted parameters, in the order of ``correlation``.
    correlation, covariance : numpy.ndarray
        Of the fitted parameters (covariance in fit coordinates: ``ln k``, kJ/mol).
    residuals : list[ConditionResidual]
        One per measured condition.
    chi2, reduced_chi2 : float
    n_observations, dof : int
    success : bool
        The optimiser converged (see ``message``).
    message : str
    evaluations : int
        Model runs over the campaign.
    seconds : float
        Wall time of the fit.
    warnings : list of str
        What the user should know (not converged, poor χ², unidentified parameters).
    raw_uids, analysis_uids : list of str
        Runs the data came from.
    geometry : ReactorGeometry
    path_length_cm : float
    sampling_errors : dict[str, float]
        Per switch temperature only bracketed by the measured T_nuc, the part (°C) of
        its standard error that is the bracket's spread (added in quadrature).
    error_scale : float
        ``max(1, robust χ²/dof)``, the factor on the model-based covariance.
    profile_errors : dict[str, float]
        Per fitted parameter, its profile error in fit coordinates (``ln k``, kJ/mol,
        °C; :mod:`.profile`); the reported error is never smaller.
    discrepancy_scales : dict[str, float]
        ``"<name>:flat"`` (and for the NC exciton readouts ``"<name>:width"``): the
        amplitude of each part of the observable's analysis–model discrepancy that the
        campaign's own residuals support (1: the default of
        :data:`.observables.OBSERVABLES`, never less; see :mod:`.discrepancy`). The
        σ in ``residuals`` include them, and so do ``chi2`` and ``reduced_chi2``.
    stated_reduced_chi2 : float
        Reduced χ² after the first fit, against the default uncertainties (before the
        campaign's amplitudes widen them).
    readout_offsets : dict[str, float]
        Per observable, ``"<name>:offset"`` and ``"<name>:gain"``: the common offset and
        gain error of its readouts against the model, in units of the absolute and
        relative parts of its default discrepancy (profiled out; see :class:`_Problem`);
        and per reaction time ``t`` with NC concentrations,
        ``"nc_concentration_molar:gain@<t>s"``, that series' gain in units of
        :data:`NC_CONCENTRATION_SERIES_GAIN`.
    diagnostics : dict
        ``jacobian`` (weighted, fit coordinates, columns of the identified parameters
        ``identified``), ``z`` (normalised residuals), ``conditions`` (condition index
        per residual): to recompute errors without a model run.
    """

    parameters: dict[str, FittedParameter]
    params: KineticParameters
    free: tuple[str, ...]
    correlation: np.ndarray
    covariance: np.ndarray
    residuals: list[ConditionResidual]
    chi2: float
    reduced_chi2: float
    n_observations: int
    dof: int
    success: bool
    message: str
    evaluations: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    raw_uids: list[str] = field(default_factory=list)
    analysis_uids: list[str] = field(default_factory=list)
    geometry: ReactorGeometry = field(default_factory=ReactorGeometry)
    path_length_cm: float = 0.1
    sampling_errors: dict[str, float] = field(default_factory=dict)
    error_scale: float = 1.0
    profile_errors: dict[str, float] = field(default_factory=dict)
    readout_offsets: dict[str, float] = field(default_factory=dict)
    discrepancy_scales: dict[str, float] = field(default_factory=dict)
    stated_reduced_chi2: float = math.nan
    diagnostics: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _segments: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def values(self) -> dict[str, float]:
        """Value of every parameter (fitted and held)."""
        return {n: p.value for n, p in self.parameters.items()}

    @property
    def stderr(self) -> dict[str, float]:
        """Standard error of every fitted parameter."""
        return {n: p.stderr for n, p in self.parameters.items() if not p.held}

    @property
    def held(self) -> tuple[str, ...]:
        """Parameters held at their value."""
        return tuple(n for n, p in self.parameters.items() if p.held)

    @property
    def identified(self) -> tuple[str, ...]:
        """Fitted parameters the data identify."""
        return tuple(n for n, p in self.parameters.items() if p.identifiable)

    @property
    def not_identified(self) -> tuple[str, ...]:
        """Fitted parameters the data do not identify."""
        return tuple(n for n, p in self.parameters.items() if not p.held and not p.identifiable)

    def correlation_of(self, a: str, b: str) -> float:
        """Correlation coefficient of two fitted parameters."""
        return float(self.correlation[self.free.index(a), self.free.index(b)])

    def predict(self, t_nuc: float, t_growth: float, reaction_time: float) -> dict[str, float]:
        """The observables the fitted model predicts at one condition.

        Returns
        -------
        dict
            One value per :data:`~msc_bluesky.modelling.observables.OBSERVABLE_NAMES`,
            plus ``msc437_detected`` (band at or above the detection level).

        Raises
        ------
        msc_bluesky.limits.ConditionError
            For conditions outside the reactor's limits.
        """
        comp = simulate_kinetics(
            t_nuc, t_growth, reaction_time, geometry=self.geometry, params=self.params
        )
        out: dict[str, Any] = model_observables(comp, self.path_length_cm)
        out["msc437_detected"] = out["msc437_absorbance"] >= DETECTION_ABSORBANCE
        return out

    def _a437(self, reaction_time: float) -> Callable[[float], float]:
        def a437(t: float) -> float:
            return self.predict(t, t, reaction_time)["msc437_absorbance"]

        return a437

    def msc437_segments_c(
        self, reaction_time: float, t_range: tuple[float, float] = WINDOW_SCAN_C
    ) -> list[tuple[float, float, float]]:
        """Every T_nuc interval (diagonal) where CdSe-437 persists: ``(low, high, peak A)``."""
        key = (float(reaction_time), tuple(t_range))
        if key not in self._segments:
            self._segments[key] = persistence_segments(self._a437(reaction_time), t_range=t_range)
        return list(self._segments[key])

    def msc437_window_c(
        self, reaction_time: float, t_range: tuple[float, float] = WINDOW_SCAN_C
    ) -> list[float] | None:
        """Predicted T_nuc range (°C) on the diagonal where CdSe-437 persists.

        "Persists": the predicted CdSe-437 band absorbance at ``reaction_time`` with
        T_growth = T_nuc reaches the analysis' detection level
        (:data:`~msc_bluesky.modelling.observables.DETECTION_ABSORBANCE`). ``t_range``
        is scanned; if the band persists in several separate intervals, the one with the
        strongest band is the window (:meth:`msc437_segments_c` lists them all).

        Returns
        -------
        [low, high] or None
        """
        return main_window(self.msc437_segments_c(reaction_time, t_range))

    def msc437_window_at_c(
        self, reaction_time: float, t_nuc_values: Iterable[float]
    ) -> list[float] | None:
        """The predicted window read like a measured one, at the given T_nuc only.

        Lowest and highest of ``t_nuc_values`` (diagonal) where CdSe-437 is predicted to
        persist: compare this, not :meth:`msc437_window_c`, with
        :func:`~msc_bluesky.modelling.window.measured_msc437_window_c` on the same grid
        (a 10 °C grid puts a measured edge up to 10 °C inside the true one).
        """
        found = [
            float(t) for t in sorted({float(t) for t in t_nuc_values})
            if self.predict(t, t, reaction_time)["msc437_detected"]
        ]
        return [found[0], found[-1]] if found else None

    def window_sensitivity(
        self, reaction_time: float = 14.0, names: Iterable[str] | None = None,
        relative_change: float = 0.1, zero_change: float = 10.0,
        temperature_change_c: float = 10.0,
    ) -> dict[str, float]:
        """Edge shift (°C) of the predicted CdSe-437 window per parameter change.

        Each parameter (default: the fitted ones) is raised by ``relative_change`` of its
        value (by ``zero_change`` when it is 0), a temperature (°C, which has no natural
        zero) by ``temperature_change_c``; the result is how far that moves the farther-
        moving edge of :meth:`msc437_window_c` (found again, see
        :func:`.window.window_sensitivity`). The parameters with the largest shifts are
        those that set the window.
        """
        window = self.msc437_window_c(reaction_time)
        if window is None:
            return {}
        names = list(self.free if names is None else names)
        changes = {
            n: self.values[n] + temperature_change_c if is_temperature(n)
            else self.values[n] * (1 + relative_change) if self.values[n] else zero_change
            for n in names
        }

        def absorbance_with(change: Mapping[str, float], t: float) -> float:
            params = dataclasses.replace(self.params, **change) if change else self.params
            comp = simulate_kinetics(
                t, t, reaction_time, geometry=self.geometry, params=params
            )
            return model_observables(comp, self.path_length_cm)["msc437_absorbance"]

        edges = [e for e in window if WINDOW_SCAN_C[0] < e < WINDOW_SCAN_C[1]]
        return window_sensitivity(absorbance_with, edges, changes)

    def to_dict(
        self, window_times: Iterable[float] = WINDOW_REACTION_TIMES_S
    ) -> dict[str, Any]:
        """JSON-able summary: parameters, CdSe-437 windows, χ² and provenance."""
        windows = {f"{float(t):.1f}": self.msc437_window_c(float(t)) for t in window_times}
        return {
            "parameters": {n: p.to_dict() for n, p in self.parameters.items()},
            "msc437_window_c": windows,
            "reduced_chi2": _json_number(self.reduced_chi2),
            "chi2": _json_number(self.chi2),
            "n_observations": self.n_observations,
            "dof": self.dof,
            "identified": list(self.identified),
            "not_identified": list(self.not_identified),
            "held": list(self.held),
            "success": self.success,
            "message": self.message,
            "warnings": list(self.warnings),
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "raw_uids": list(self.raw_uids),
            "correlation": {
                "names": list(self.free),
                "matrix": [[_json_number(v) for v in row] for row in self.correlation],
            },
        }


def _number(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _json_number(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


#: Prior width of a readout offset, in units of the observable's discrepancy σ.
READOUT_OFFSET_PRIOR = 1.0

#: Prior width (relative) of the NC concentration's gain per reaction time. The
#: analysis' NC-concentration error depends on the exciton width
#: (benchmarks/nc_concentration_bias.py: +5 % on the recovery campaign's 4.5 s diagonal,
#: ~0 median at 14 s), and the width follows the reaction time: one gain per reaction
#: time absorbs that smooth, series-wise error instead of the rates.
NC_CONCENTRATION_SERIES_GAIN = 0.05
#: The observable with a gain per reaction time.
_SERIES_GAIN_OBSERVABLE = "nc_concentration_molar"
#: Reaction times closer than this (s) are one series.
_SERIES_RESOLUTION_S = 0.1


class _Problem:
    """Residuals of one campaign against the model, with cached model runs.

    Each observable may be read with a common offset ``b₁ a`` and gain error
    ``b₂ r |y|`` (``a``, ``r`` the absolute and relative parts of its default
    discrepancy): the analysis' line shapes are not the model's, and the NC peak, for
    one, reads ~0.5 nm red of the model's at every condition. Such an error is shared
    by every condition, so it does not average out; fitted as a rate it biased the NC
    growth rate by 3 % (6 of its errors). The ``b`` are linear, so they are profiled out
    exactly at every evaluation (variable projection) with a Gaussian prior of width
    :data:`READOUT_OFFSET_PRIOR`; their prior terms are appended to the residuals, so
    the Jacobian, and hence every error, includes their uncertainty.

    The NC concentration also has a gain ``b r_s |y|`` per reaction time (``r_s`` =
    :data:`NC_CONCENTRATION_SERIES_GAIN`, same prior): the analysis' error on it
    depends on the exciton width, which follows the reaction time.
    """

    def __init__(self, conditions: list[MeasuredCondition], runner: ModelRunner, space) -> None:
        self.conditions = conditions
        self.runner = runner
        self.space = space
        _, self.cond_index = unique_conditions(conditions)
        rows, cols, y, sigma, cond_of, times = [], [], [], [], [], []
        for i, c in enumerate(conditions):
            for name, value in c.values.items():
                if name in _FITTED:
                    cond_of.append(i)
                    times.append(c.reaction_time)
                    rows.append(self.cond_index[i])
                    cols.append(_COLUMN[name])
                    y.append(value)
                    sigma.append(c.sigmas[name])
        self.rows = np.asarray(rows, dtype=int)
        self.cols = np.asarray(cols, dtype=int)
        self.y = np.asarray(y, dtype=float)
        self.sigma = np.asarray(sigma, dtype=float)
        self.reaction_time = np.asarray(times, dtype=float)
        self.n_obs = int(self.y.size)
        # σ = hypot(noise, a_g law, c_g flat): reported noise, the exciton-width law and
        # the flat default discrepancy (amplitude 1), with amplitudes per observable
        # estimated from the residuals (.discrepancy).
        self.noise, self.law, self.flat = (np.zeros(self.n_obs) for _ in range(3))
        for j, (i, k) in enumerate(zip(cond_of, self.cols, strict=True)):
            obs, row = OBSERVABLES[k], conditions[i].row
            self.noise[j] = reported_noise(obs.name, row)
            self.law[j], self.flat[j] = obs.discrepancy_parts(
                float(self.y[j]), _number(row.get("nc_fwhm_nm"))
            )
        self.scales: dict[int, tuple[float, float]] = {
            int(k): (1.0, 1.0) for k in np.unique(self.cols)
        }
        self.predicted = np.ones(self.n_obs, dtype=bool)
        self.set_scales({})
        self._cache: dict[bytes, np.ndarray] = {}

    def set_scales(self, scales: Mapping[int, tuple[float, float]]) -> None:
        """Set the (law, flat) discrepancy amplitudes per observable column; σ and the
        readout-offset columns follow."""
        self.scales.update({int(k): (float(v[0]), float(v[1])) for k, v in scales.items()})
        a = np.array([self.scales[int(k)] for k in self.cols]).reshape(-1, 2)
        self.sigma = np.hypot(self.noise, np.hypot(a[:, 0] * self.law, a[:, 1] * self.flat))
        self._build_columns()

    def _build_columns(self) -> None:
        # Readout offset and gain per observable, in units of its default discrepancy
        # (absolute part, relative part): columns of the nuisance design.
        self.offset_names, self.columns = [], []
        for k in np.unique(self.cols):
            obs = OBSERVABLES[k]
            rows_k = np.flatnonzero(self.cols == k)
            if obs.absolute_sigma > 0:
                self.offset_names.append(f"{obs.name}:offset")
                self.columns.append((rows_k, obs.absolute_sigma / self.sigma[rows_k]))
            if obs.relative_sigma > 0:
                self.offset_names.append(f"{obs.name}:gain")
                self.columns.append(
                    (rows_k, obs.relative_sigma * np.abs(self.y[rows_k]) / self.sigma[rows_k])
                )
            if obs.name == _SERIES_GAIN_OBSERVABLE:
                series = np.round(self.reaction_time[rows_k] / _SERIES_RESOLUTION_S)
                for key in np.unique(series):
                    rows_s = rows_k[series == key]
                    t = float(np.median(self.reaction_time[rows_s]))
                    self.offset_names.append(f"{obs.name}:gain@{t:.3g}s")
                    self.columns.append((
                        rows_s,
                        NC_CONCENTRATION_SERIES_GAIN * np.abs(self.y[rows_s])
                        / self.sigma[rows_s],
                    ))

    def offsets(self, z: np.ndarray) -> np.ndarray:
        """Readout offsets and gains minimising χ² plus their prior (Huber-weighted)."""
        n = len(self.columns)
        a = np.zeros((z.size, n))
        for j, (rows_k, col) in enumerate(self.columns):
            a[rows_k, j] = col
        w = robust_weights(z)
        lhs = (a * w[:, None]).T @ a + np.eye(n) / READOUT_OFFSET_PRIOR**2
        self._design = a
        return -np.linalg.solve(lhs, (a * w[:, None]).T @ z)

    def residual_of(self, table: np.ndarray) -> np.ndarray:
        """Normalised residuals of every observation, readout offsets profiled out,
        followed by the offsets' prior terms."""
        model = table[self.rows, self.cols]
        r = (model - self.y) / self.sigma
        self.predicted = np.isfinite(r)
        z = np.where(self.predicted, r, UNPREDICTED_RESIDUAL)
        b = self.offsets(z)
        return np.concatenate([z + self._design @ b, b / READOUT_OFFSET_PRIOR])

    def tables(self, us: list[np.ndarray]) -> list[np.ndarray]:
        found = {u.tobytes(): self._cache[u.tobytes()] for u in us if u.tobytes() in self._cache}
        missing = [u for u in us if u.tobytes() not in found]
        if missing:
            results = self.runner.many([self.space.params(u) for u in missing])
            if len(self._cache) > 512:
                self._cache.clear()
            for u, table in zip(missing, results, strict=True):
                self._cache[u.tobytes()] = found[u.tobytes()] = table
        return [found[u.tobytes()] for u in us]


def fit_kinetics(
    table: Any,
    *,
    parameters: Iterable[str] | Mapping[str, float] | None = None,
    fixed: Iterable[str] | Mapping[str, float] | None = None,
    base: KineticParameters | None = None,
    geometry: ReactorGeometry | None = None,
    path_length_cm: float | None = None,
    max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> KineticFit:
    """Fit the kinetic model's Arrhenius parameters to a campaign's analysis results.

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        The campaign: :func:`msc_bluesky.storage.browse.campaign_table`, or rows of
        analysis fields with ``t_nuc``, ``t_growth``, ``reaction_time`` and any of
        ``msc{F}_absorbance``, ``nc_peak_nm``, ``nc_diameter_nm``,
        ``nc_concentration_molar``, ``saxs_total_volume_fraction``,
        ``saxs_pop{i}_radius_nm`` / ``saxs_pop{i}_volume_fraction``, each optionally
        with ``<field>_sigma``. NaN means not measured.
    parameters : iterable of str or mapping, optional
        Parameters to fit (names of ``KineticParameters`` fields), or name -> starting
        value. Default: every ``k_*`` rate constant, ``ea_*`` activation energy and
        the closed-shell switch (onset, limit, largest fraction; see
        :func:`.parameters.default_free_parameters`).
    fixed : iterable of str or mapping, optional
        Parameters held (at ``base``), or name -> held value.
    base : KineticParameters, optional
        Starting point and held values (default: the model's own, the twin's set).
    geometry : ReactorGeometry, optional
        Reactor volumes (default: the architecture's).
    path_length_cm : float, optional
        UV-Vis optical path; default: from the table (:func:`.observables.path_length_of`).
    max_evaluations : int
        Largest number of residual evaluations of the optimiser.
    workers : int
        Processes for the model runs of a Jacobian (1: this process only).
    progress : callable, optional
        ``progress(evaluations, chi2)`` after every batch of model runs.

    Returns
    -------
    KineticFit

    Raises
    ------
    ValueError
        For unknown parameter names, a table without any usable measured observable,
        or bad options.
    """
    started = time.perf_counter()
    space = parameter_space(parameters, fixed, base)
    if int(max_evaluations) < 1:
        raise ValueError(f"max_evaluations must be >= 1, got {max_evaluations!r}")
    conditions = measured_conditions(table)
    if not conditions:
        raise ValueError(
            "the table has no usable measurement: need rows with t_nuc, t_growth, "
            "reaction_time within the reactor's limits and at least one of "
            + ", ".join(OBSERVABLE_NAMES)
        )
    path = float(path_length_cm) if path_length_cm else path_length_of(
        [c.row for c in conditions]
    )
    keys, _ = unique_conditions(conditions)
    geometry = geometry or ReactorGeometry()
    lower, upper = space.bounds()
    u0 = np.clip(space.to_internal(space.start), lower, upper)
    # Reference values: where a parameter the data do not identify is held.
    reference = np.clip(
        space.to_internal(np.array([float(getattr(space.base, n)) for n in space.free])),
        lower, upper,
    )
    n_free = len(space.free)
    sampled = np.array([c.t_nuc for c in conditions])
    absolute = np.array(
        [TEMPERATURE_ERROR_LIMIT_C if is_temperature(n) else np.nan for n in space.free]
    )

    with ModelRunner(keys, geometry, path, workers) as runner:
        problem = _Problem(conditions, runner, space)
        if problem.y.size == 0:
            raise ValueError(
                "the table's measurements are all of observables that are not fitted "
                "(only nc_diameter_nm?)"
            )
        solver = _Solver(problem, space, lower, upper, progress)
        n_obs = problem.n_obs
        # Sandwich clusters: the observations of one condition; each offset prior alone.
        clusters = np.concatenate(
            [problem.rows, -1 - np.arange(len(problem.offset_names))]
        )
        by_observable = np.concatenate(
            [problem.cols, -1 - np.arange(len(problem.offset_names))]
        )
        sandwiches = [clusters, by_observable]

        def sampling_of(u: np.ndarray) -> np.ndarray:
            values = space.to_model(u)
            return np.array([
                sampling_error(float(values[i]), sampled, width_of(n, space.base))
                if is_temperature(n) else 0.0
                for i, n in enumerate(space.free)
            ])

        # 1. Every free parameter.
        active = np.ones(n_free, dtype=bool)
        u, result = solver.solve(u0, active, max_evaluations, FIRST_FIT_TOLERANCE)
        stages = [("first fit", runner.evaluations)]
        # 1b. The discrepancy amplitude of each observable from the residuals
        #     (variance components, .discrepancy); refit while they move.
        stated_chi2 = math.nan  # reduced χ² against the default σ, before any widening
        for _ in range(SCALE_ROUNDS):
            jac = solver.jacobian(u, active)
            z = solver.residual(u)
            if not math.isfinite(stated_chi2) and n_obs > n_free:
                stated_chi2 = float(z[:n_obs] @ z[:n_obs]) / (n_obs - n_free)
            scales = estimate_scales(
                z[:n_obs], problem.sigma, problem.noise, problem.law, problem.flat,
                problem.cols, problem.predicted, leverages(jac, n_obs),
            )
            moved = max(
                abs(math.log(a / b)) for k, v in scales.items()
                for a, b in zip(v, problem.scales[k], strict=True)
            )
            problem.set_scales(scales)
            if moved < SCALE_TOLERANCE:
                break
            u, result = solver.solve(u, active, max_evaluations, FIRST_FIT_TOLERANCE)
        stages.append(("discrepancy scales", runner.evaluations))
        held_reason: dict[int, str] = {}
        profile_sigma = np.full(n_free, np.nan)
        profiled = False  # the final set's profiles were checked
        # 2. Hold what the data do not identify (at the reference), refit the rest,
        #    check the identified ones' profiles; repeat while something is dropped.
        for _round in range(MAX_IDENTIFICATION_ROUNDS):
            jac = solver.jacobian(u, active)
            z = solver.residual(u)
            scale = _error_scale(z, n_obs - int(active.sum()))
            if _round == 0:  # what the data say with every parameter free
                first_sd, _ = _errors(jac, z, scale, sampling_of(u), sandwiches)
            keep, dropped = select_identifiable(
                _full_columns(jac, active), u, lower, upper, space.to_model(u),
                space.log_scaled, scale, absolute, sampling_of(u), active,
            )
            if keep.any() and not dropped:
                sd, cov = _errors(jac, z, scale, sampling_of(u)[active], sandwiches)
                stages.append(("before profile", runner.evaluations))
                prof, _ = profile_errors(
                    solver.residuals, u, np.flatnonzero(active), jac, cov, sd,
                    lower, upper, scale,
                )
                profile_sigma[:] = np.nan
                profile_sigma[active] = prof
                sd_all = np.maximum(sd, np.nan_to_num(prof, nan=0.0))
                limit_ok = _within_limits(
                    sd_all, space.to_model(u)[active], space.log_scaled[active],
                    absolute[active],
                )
                if limit_ok.all():
                    profiled = True
                    break
                idx = np.flatnonzero(active)
                for j in np.flatnonzero(~limit_ok):
                    held_reason[int(idx[j])] = (
                        f"profile error {_describe(sd_all[j], idx[j], space, u)}: "
                        "the profile is flatter than the linearised error"
                    )
                keep = active.copy()
                keep[idx[~limit_ok]] = False
            else:
                for i, why in dropped.items():
                    held_reason[i] = why
            if not keep.any():
                active = keep
                break
            newly_held = active & ~keep
            active = keep
            u = u.copy()
            u[newly_held] = reference[newly_held]
            stages.append((f"round {_round + 1} selected", runner.evaluations))
            u, result = solver.solve(u, active, max_evaluations)
            stages.append((f"round {_round + 1} refit", runner.evaluations))
        if not profiled:
            profile_sigma[:] = np.nan
        if active.any():
            jac = solver.jacobian(u, active)
        z = solver.residual(u)
        (final_table,) = problem.tables([u])
        evaluations = runner.evaluations

    n_active = int(active.sum())
    z_obs = z[:n_obs]
    chi2 = float(z_obs @ z_obs)
    dof = n_obs - n_active
    reduced = chi2 / dof if dof > 0 else math.nan
    scale = _error_scale(z, n_obs - n_active)
    reference_values = np.array([float(getattr(space.base, n)) for n in space.free])
    # Held at the reference means exactly the reference (not exp(ln k)).
    values = np.where(active, space.to_model(u), reference_values)
    resolution = sampling_of(u)
    stderr_internal = np.full(n_free, np.inf)
    covariance = np.full((n_free, n_free), np.nan)
    if n_active:
        sd, cov = _errors(jac, z, scale, resolution[active], sandwiches)
        prof = profile_sigma[active]
        sd = np.maximum(sd, np.nan_to_num(prof, nan=0.0))
        stderr_internal[active] = sd
        covariance[np.ix_(active, active)] = cov
    # Held-by-identification parameters keep the error of the first fit (what the data
    # said about them with every parameter free).
    stderr_internal[~active] = first_sd[~active]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_diag = np.sqrt(np.diag(covariance))
        correlation = covariance / np.outer(sd_diag, sd_diag)
    np.fill_diagonal(correlation, np.where(active, 1.0, np.nan))
    stderr = stderr_in_model_units(stderr_internal, values, space.log_scaled)
    best = dataclasses.replace(
        space.params(u),
        **{n: float(values[i]) for i, n in enumerate(space.free) if not active[i]},
    )
    ok = np.zeros(n_free, dtype=bool)
    if n_active:
        ok[active] = _within_limits(
            stderr_internal[active], values[active], space.log_scaled[active],
            absolute[active],
        )
    fitted = {}
    for i, name in enumerate(space.free):
        if active[i] and ok[i]:
            reason = _describe(stderr_internal[i], i, space, u) + (
                ", profile bounded" if profiled else ", profile not checked (rounds used up)"
            )
        elif active[i]:
            reason = _describe(stderr_internal[i], i, space, u) + " exceeds the limit"
        else:
            reason = "held at its reference value: " + held_reason.get(i, "not identified")
        fitted[name] = FittedParameter(
            name, float(values[i]), float(stderr[i]), float(space.start[i]), False,
            bool(active[i] and ok[i]), reason,
        )
    parameters_out = {}
    for name in parameter_names():
        if name in fitted:
            parameters_out[name] = fitted[name]
        else:
            v = float(getattr(best, name))
            parameters_out[name] = FittedParameter(name, v, math.nan, v, True, False, "held")

    residuals = _residuals(conditions, problem.cond_index, final_table, z_obs, problem.sigma)
    warnings = _warnings(result, reduced, n_obs - n_free, fitted, n_obs, n_free, z_obs, scale)
    widened = {
        f"{OBSERVABLES[k].name}:{part}": a for k, v in sorted(problem.scales.items())
        for part, a in zip(("width", "flat"), v, strict=True) if a > WIDENED_WARNING
    }
    if widened:
        warnings.append(
            f"reduced chi2 = {stated_chi2:.3g} against the default uncertainties: the "
            "residuals scatter more than they state, so the campaign's own estimate widens "
            + ", ".join(f"{n} x{a:.3g}" for n, a in widened.items())
            + " (fit.discrepancy_scales; errors grow with them)"
        )
    return KineticFit(
        parameters=parameters_out,
        params=best,
        free=space.free,
        correlation=correlation,
        covariance=covariance,
        residuals=residuals,
        chi2=chi2,
        reduced_chi2=reduced,
        n_observations=n_obs,
        dof=dof,
        success=bool(result.success) and result.status > 0,
        message=str(result.message),
        evaluations=evaluations,
        seconds=time.perf_counter() - started,
        warnings=warnings,
        raw_uids=sorted({c.raw_uid for c in conditions if c.raw_uid}),
        analysis_uids=sorted({c.analysis_uid for c in conditions if c.analysis_uid}),
        geometry=geometry,
        path_length_cm=path,
        sampling_errors={n: float(resolution[i]) for i, n in enumerate(space.free)
                         if resolution[i] > 0},
        error_scale=scale,
        stated_reduced_chi2=stated_chi2,
        discrepancy_scales={
            f"{OBSERVABLES[k].name}:{part}": float(a)
            for k, v in sorted(problem.scales.items())
            for part, a in zip(("width", "flat"), v, strict=True)
            if part == "flat" or np.any(problem.law[problem.cols == k] > 0)
        },
        readout_offsets={
            n: float(b * READOUT_OFFSET_PRIOR) for n, b in
            zip(problem.offset_names, z[n_obs:], strict=True)
        },
        diagnostics={
            "jacobian": jac if n_active else None, "z": z, "conditions": clusters,
            "identified": [n for i, n in enumerate(space.free) if active[i]],
            "model_runs": stages,
            "t_nuc": np.concatenate([[keys[k][0] for k in problem.rows], clusters[n_obs:]]),
        },
        profile_errors={n: float(profile_sigma[i]) for i, n in enumerate(space.free)
                        if active[i] and np.isfinite(profile_sigma[i])},
    )


#: Rounds of "estimate the discrepancy amplitudes, refit" after the first fit, and the
#: change (in ln a) below which the amplitudes count as settled.
SCALE_ROUNDS = 3
SCALE_TOLERANCE = 0.1
#: A discrepancy amplitude above this is reported in the fit's warnings.
WIDENED_WARNING = 1.5

#: Rounds of "hold what is not identified, refit, check the profiles".
MAX_IDENTIFICATION_ROUNDS = 4


def _error_scale(z: np.ndarray, dof: int) -> float:
    """``max(1, robust χ² / dof)``: a fit worse than its uncertainties widens the errors."""
    return max(1.0, robust_chi2(z) / dof) if dof > 0 else 1.0


def _full_columns(jac: np.ndarray, active: np.ndarray) -> np.ndarray:
    out = np.zeros((jac.shape[0], active.size))
    out[:, active] = jac
    return out


def _errors(
    jac: np.ndarray, z: np.ndarray, scale: float, sampling: np.ndarray,
    groups: np.ndarray | list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors and covariance (fit coordinates) of the fitted parameters.

    The largest of the model-based ``s (JᵀWJ)⁻¹`` and the sandwiches clustered by each
    labelling in ``groups`` (the residuals' own scatter instead of the stated σ; by
    condition: the readouts of one condition err together; by observable: one
    observable's readouts err together across conditions, a systematic analysis–model
    discrepancy that pulls against the other observables; ``G/(G−1)`` small-sample
    factor for ``G`` clusters) per parameter, plus the bracket
    spread of a sampled switch in quadrature; the covariance is the model-based one
    with those errors.
    """
    w = np.sqrt(robust_weights(z))
    model = covariance_from_jacobian(jac * w[:, None], scale)
    var = np.diag(model)
    for labels in groups if isinstance(groups, list) else [groups]:
        robust = sandwich_covariance(jac, z, labels)
        n_clusters = np.unique(labels).size if labels is not None else z.size
        small = n_clusters / (n_clusters - 1) if n_clusters > 1 else 1.0
        var = np.fmax(var, small * np.diag(robust))
    with np.errstate(invalid="ignore"):
        var = var + np.asarray(sampling) ** 2
        sd = np.sqrt(var)
        d = np.sqrt(np.diag(model))
        corr = model / np.outer(d, d)
    cov = corr * np.outer(sd, sd)
    cov[~np.isfinite(cov)] = np.nan
    np.fill_diagonal(cov, var)
    return sd, cov


def _within_limits(
    sd: np.ndarray, values: np.ndarray, log_scaled: np.ndarray, absolute: np.ndarray
) -> np.ndarray:
    """Error within the identification limit (relative, or absolute for temperatures)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(log_scaled, sd, sd / np.maximum(np.abs(values), 1e-300))
        return np.where(
            np.isfinite(absolute), sd <= absolute, relative <= RELATIVE_ERROR_LIMIT
        ) & np.isfinite(sd)


def _describe(sd: float, i: int, space, u: np.ndarray) -> str:
    name = space.free[i]
    if not np.isfinite(sd):
        return "error unbounded"
    if space.log_scaled[i]:
        return f"relative error {sd:.1%}"
    if is_temperature(name):
        return f"standard error {sd:.3g} °C"
    value = float(space.to_model(u)[i])
    return f"relative error {sd / max(abs(value), 1e-300):.1%}"


class _Solver:
    """Least squares over a subset of the free parameters, the rest held."""

    def __init__(self, problem: _Problem, space, lower, upper, progress) -> None:
        self.problem, self.space = problem, space
        self.lower, self.upper = lower, upper
        self.progress = progress

    def _report(self, z: np.ndarray) -> None:
        if self.progress is not None:
            self.progress(self.problem.runner.evaluations, float(z @ z))

    def residual(self, u: np.ndarray) -> np.ndarray:
        (t,) = self.problem.tables([u])
        return self.problem.residual_of(t)

    def residuals(self, us) -> list[np.ndarray]:
        out = [self.problem.residual_of(t) for t in self.problem.tables(list(us))]
        if out:
            self._report(out[0])
        return out

    def jacobian(self, u: np.ndarray, active: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(active)
        steps = self.space.steps(u)
        shifted = []
        for i in idx:
            v = u.copy()
            up = u[i] + steps[i]
            v[i] = up if up <= self.upper[i] else u[i] - steps[i]
            shifted.append(v)
        tables = self.problem.tables([u, *shifted])
        r0 = self.problem.residual_of(tables[0])
        out = np.empty((r0.size, idx.size))
        for k, (i, v, t) in enumerate(zip(idx, shifted, tables[1:], strict=True)):
            out[:, k] = (self.problem.residual_of(t) - r0) / (v[i] - u[i])
        self._report(r0)
        return out

    def solve(
        self, u_start: np.ndarray, active: np.ndarray, max_evaluations: int,
        tolerance: float = FIT_TOLERANCE,
    ):
        """Optimise the ``active`` coordinates from ``u_start``; returns (u, result)."""
        idx = np.flatnonzero(active)
        base = np.array(u_start, dtype=float)

        def full(x: np.ndarray) -> np.ndarray:
            v = base.copy()
            v[idx] = x
            return v

        def fun(x: np.ndarray) -> np.ndarray:
            z = self.residual(full(x))
            self._report(z)
            return z

        def jac(x: np.ndarray) -> np.ndarray:
            return self.jacobian(full(x), active)

        x0 = np.clip(base[idx], self.lower[idx], self.upper[idx])
        result = least_squares(
            fun, x0, jac=jac, bounds=(self.lower[idx], self.upper[idx]), method="trf",
            x_scale="jac", loss="huber", f_scale=HUBER_K, ftol=tolerance,
            xtol=tolerance, gtol=1e-8, max_nfev=int(max_evaluations),
        )
        result.x = full(result.x)
        return result.x, result


def _residuals(
    conditions: list[MeasuredCondition], index: np.ndarray, table: np.ndarray,
    z: np.ndarray, sigma: np.ndarray,
) -> list[ConditionResidual]:
    """Per condition; ``normalized`` from ``z`` (readout offsets included), in the
    order :class:`_Problem` lays the observations out."""
    out = []
    pos = 0
    for c, k in zip(conditions, index, strict=True):
        model = {n: float(table[k, _COLUMN[n]]) for n in c.values}
        normalized, sigmas = {}, dict(c.sigmas)
        for n in c.values:
            if n in _FITTED:
                normalized[n] = float(z[pos])
                sigmas[n] = float(sigma[pos])
                pos += 1
        out.append(
            ConditionResidual(
                c.t_nuc, c.t_growth, c.reaction_time, c.raw_uid,
                dict(c.values), model, sigmas, normalized,
            )
        )
    return out


def _warnings(result, reduced, dof, fitted, n_obs, n_free, z=None, scale=1.0) -> list[str]:
    out = []
    if z is not None:
        outliers = int(np.sum(np.abs(z) > HUBER_K))
        if outliers:
            out.append(
                f"{outliers} of {z.size} observations lie more than {HUBER_K:g} σ from the "
                "fitted model (weighed linearly, not squared); see the residuals"
            )
    if result.status <= 0:
        out.append(
            f"the fit stopped after {result.nfev} evaluations without converging "
            f"({result.message}); raise max_evaluations or check the data"
        )
    if dof <= 0:
        out.append(
            f"{n_obs} fitted observations for {n_free} free parameters: the data cannot "
            "determine them all"
        )
    elif reduced > CHI2_WARNING:
        out.append(
            f"reduced chi2 = {reduced:.3g}: the model or the stated uncertainties do not "
            f"describe the data; standard errors are scaled by at least sqrt({scale:.3g})"
        )
    missing = [n for n, p in fitted.items() if not p.identifiable]
    if missing:
        out.append("not identified by these data: " + ", ".join(missing))
    return out


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
from msc_bluesky.modelling.evaluate import ModelRunner
from msc_bluesky.modelling.identifiability import (
    TEMPERATURE_ERROR_LIMIT_C,
    assess,
    sampling_error,
    stderr_in_model_units,
)
from msc_bluesky.modelling.observables import (
    DETECTION_ABSORBANCE,
    OBSERVABLE_NAMES,
    OBSERVABLES,
    UNPREDICTED_RESIDUAL,
    model_observables,
    path_length_of,
)
from msc_bluesky.modelling.parameters import (
    is_temperature,
    parameter_names,
    parameter_space,
    width_of,
)
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
        """``{"value", "stderr", "identifiable", "held"}`` (non-finite errors as None)."""
        err = self.stderr if math.isfinite(self.stderr) else None
        return {
            "value": self.value,
            "stderr": err,
            "identifiable": self.identifiable,
            "held": self.held,
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


def _json_number(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


class _Problem:
    """Residuals of one campaign against the model, with cached model runs."""

    def __init__(self, conditions: list[MeasuredCondition], runner: ModelRunner, space) -> None:
        self.conditions = conditions
        self.runner = runner
        self.space = space
        _, self.cond_index = unique_conditions(conditions)
        rows, cols, y, sigma = [], [], [], []
        for i, c in enumerate(conditions):
            for name, value in c.values.items():
                if name in _FITTED:
                    rows.append(self.cond_index[i])
                    cols.append(_COLUMN[name])
                    y.append(value)
                    sigma.append(c.sigmas[name])
        self.rows = np.asarray(rows, dtype=int)
        self.cols = np.asarray(cols, dtype=int)
        self.y = np.asarray(y, dtype=float)
        self.sigma = np.asarray(sigma, dtype=float)
        self._cache: dict[bytes, np.ndarray] = {}

    def residual_of(self, table: np.ndarray) -> np.ndarray:
        model = table[self.rows, self.cols]
        r = (model - self.y) / self.sigma
        return np.where(np.isfinite(r), r, UNPREDICTED_RESIDUAL)

    def tables(self, us: list[np.ndarray]) -> list[np.ndarray]:
        found = {u.tobytes(): self._cache[u.tobytes()] for u in us if u.tobytes() in self._cache}
        missing = [u for u in us if u.tobytes() not in found]
        if missing:
            results = self.runner.many([self.space.params(u) for u in missing])
            if len(self._cache) > 64:
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
    n_free = len(space.free)

    with ModelRunner(keys, geometry, path, workers) as runner:
        problem = _Problem(conditions, runner, space)
        if problem.y.size == 0:
            raise ValueError(
                "the table's measurements are all of observables that are not fitted "
                "(only nc_diameter_nm?)"
            )

        def report(r: np.ndarray) -> None:
            if progress is not None:
                progress(runner.evaluations, float(r @ r))

        def fun(u: np.ndarray) -> np.ndarray:
            (t,) = problem.tables([u])
            r = problem.residual_of(t)
            report(r)
            return r

        def jac(u: np.ndarray) -> np.ndarray:
            steps = space.steps(u)
            shifted = []
            for i in range(n_free):
                v = u.copy()
                v[i] = u[i] + steps[i] if u[i] + steps[i] <= upper[i] else u[i] - steps[i]
                shifted.append(v)
            tables = problem.tables([u, *shifted])
            r0 = problem.residual_of(tables[0])
            out = np.empty((r0.size, n_free))
            for i, (v, t) in enumerate(zip(shifted, tables[1:], strict=True)):
                out[:, i] = (problem.residual_of(t) - r0) / (v[i] - u[i])
            report(r0)
            return out

        result = least_squares(
            fun,
            u0,
            jac=jac,
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
            ftol=FIT_TOLERANCE,
            xtol=FIT_TOLERANCE,
            gtol=1e-8,
            max_nfev=int(max_evaluations),
        )
        u = result.x
        # least_squares leaves the Jacobian it evaluated at the solution in result.jac.
        final_jac = np.asarray(result.jac)
        (final_table,) = problem.tables([u])
        r = problem.residual_of(final_table)
        evaluations = runner.evaluations

    n_obs = int(r.size)
    chi2 = float(r @ r)
    dof = n_obs - n_free
    reduced = chi2 / dof if dof > 0 else math.nan
    values = space.to_model(u)
    # A switch narrower than the T_nuc grid is only bracketed by the data: its error
    # includes the spread over the bracket (identifiability.sampling_error).
    sampled = np.array([c.t_nuc for c in conditions])
    resolution = {
        n: sampling_error(float(values[i]), sampled, width_of(n, space.base))
        for i, n in enumerate(space.free) if is_temperature(n)
    }
    extra = np.array([resolution.get(n, 0.0) for n in space.free])
    absolute = np.array(
        [TEMPERATURE_ERROR_LIMIT_C if is_temperature(n) else np.nan for n in space.free]
    )
    ident = assess(
        final_jac, u, lower, upper, values, space.log_scaled, reduced, absolute, extra
    )
    stderr = stderr_in_model_units(ident.stderr_internal, values, space.log_scaled)
    best = space.params(u)

    fitted = {
        name: FittedParameter(
            name, float(values[i]), float(stderr[i]), float(space.start[i]), False,
            bool(ident.identified[i]), ident.reasons[i],
        )
        for i, name in enumerate(space.free)
    }
    parameters_out = {}
    for name in parameter_names():
        if name in fitted:
            parameters_out[name] = fitted[name]
        else:
            v = float(getattr(best, name))
            parameters_out[name] = FittedParameter(name, v, math.nan, v, True, False, "held")

    residuals = _residuals(conditions, problem.cond_index, final_table)
    warnings = _warnings(result, reduced, dof, fitted, n_obs, n_free)
    return KineticFit(
        parameters=parameters_out,
        params=best,
        free=space.free,
        correlation=ident.correlation,
        covariance=ident.covariance,
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
        sampling_errors={n: e for n, e in resolution.items() if e > 0},
    )


def _residuals(
    conditions: list[MeasuredCondition], index: np.ndarray, table: np.ndarray
) -> list[ConditionResidual]:
    out = []
    for c, k in zip(conditions, index, strict=True):
        model = {n: float(table[k, _COLUMN[n]]) for n in c.values}
        normalized = {}
        for n, v in c.values.items():
            if n in _FITTED:
                z = (model[n] - v) / c.sigmas[n]
                normalized[n] = z if math.isfinite(z) else UNPREDICTED_RESIDUAL
        out.append(
            ConditionResidual(
                c.t_nuc, c.t_growth, c.reaction_time, c.raw_uid,
                dict(c.values), model, dict(c.sigmas), normalized,
            )
        )
    return out


def _warnings(result, reduced, dof, fitted, n_obs, n_free) -> list[str]:
    out = []
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
            f"describe the data; standard errors are scaled by sqrt({reduced:.3g})"
        )
    missing = [n for n, p in fitted.items() if not p.identifiable]
    if missing:
        out.append("not identified by these data: " + ", ".join(missing))
    return out


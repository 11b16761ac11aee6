"""What a campaign is: an ordered list of plan calls, JSON-serialisable.

The same list runs locally through a RunEngine or goes to the queue server as
queue items, so both paths measure exactly the same conditions.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from msc_bluesky.limits import ConditionError, check_reaction_time, check_temperature

#: Plans a campaign step may call, all from :mod:`msc_bluesky.plans`.
CAMPAIGN_PLANS: tuple[str, ...] = (
    "condition_scan",
    "temperature_grid",
    "reaction_time_series",
    "nucleation_series",
    "precursor_blank",
)
#: Detector names a step may use (the instrument's devices).
DETECTOR_NAMES: tuple[str, ...] = ("uvvis", "saxs")


@dataclass(frozen=True)
class CampaignStep:
    """One plan call of a campaign.

    Attributes
    ----------
    title : str
        What the step measures, shown in the progress output and the summary.
    plan : str
        Name of a plan in :data:`CAMPAIGN_PLANS`.
    detectors : tuple of str
        Detector names from :data:`DETECTOR_NAMES`.
    kwargs : dict
        The plan's arguments after ``detectors`` and ``reactor``, by name.
    """

    title: str
    plan: str
    detectors: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.plan not in CAMPAIGN_PLANS:
            raise ConditionError(
                f"step {self.title!r}: unknown plan {self.plan!r}; allowed: "
                + ", ".join(CAMPAIGN_PLANS)
            )
        if not self.detectors:
            raise ConditionError(f"step {self.title!r}: no detectors; allowed: uvvis, saxs")
        unknown = [d for d in self.detectors if d not in DETECTOR_NAMES]
        if unknown:
            raise ConditionError(
                f"step {self.title!r}: unknown detector(s) {unknown}; allowed: uvvis, saxs"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the step."""
        d = asdict(self)
        d["detectors"] = list(self.detectors)
        return d


def paper_campaign(quick: bool = False) -> list[CampaignStep]:
    """The experiments of Palencia et al. 2020, in the order they are run.

    1. precursor blank: SAXS at 25, 50 and 100 °C (Fig. 3);
    2. SAXS nucleation series: T_nuc 190–280 °C in 10 °C steps, T_growth 230 °C, 1.5 s
       (Fig. 2);
    3. UV-Vis at 4.5 s for 260, 280 and 350 °C (Fig. S2);
    4. the Fig. 1 grid at 14 s: T_nuc 260–320 °C in 10 °C steps, ten growth
       temperatures each.

    Parameters
    ----------
    quick : bool
        A reduced campaign through the same plans: fewer temperatures, the Fig. 1 grid
        reduced to its diagonal (T_growth = T_nuc) plus one step down.

    Returns
    -------
    list of CampaignStep
    """
    if quick:
        blank = [25.0, 100.0]
        nucleation = [190.0, 220.0, 240.0, 260.0]
        grid_nuc = [260.0, 270.0, 280.0, 290.0, 300.0, 310.0]
        growth_steps = 1
    else:
        blank = [25.0, 50.0, 100.0]
        nucleation = [float(t) for t in range(190, 281, 10)]
        grid_nuc = [float(t) for t in range(260, 321, 10)]
        growth_steps = 10
    return [
        CampaignStep(
            "precursor blank (Fig. 3)",
            "precursor_blank",
            ("saxs",),
            {"temperatures": blank},
        ),
        CampaignStep(
            "SAXS nucleation series at 1.5 s (Fig. 2)",
            "nucleation_series",
            ("saxs",),
            {"nucleation_temperatures": nucleation, "t_growth": 230.0, "reaction_time": 1.5},
        ),
        CampaignStep(
            "UV-Vis at 4.5 s (Fig. S2)",
            "condition_scan",
            ("uvvis", "saxs"),
            {
                "conditions": [
                    {"t_nuc": t, "t_growth": t, "reaction_time": 4.5}
                    for t in ([280.0] if quick else [260.0, 280.0, 350.0])
                ]
            },
        ),
        CampaignStep(
            "temperature grid at 14 s (Fig. 1)",
            "temperature_grid",
            ("uvvis", "saxs"),
            {
                "nucleation_temperatures": grid_nuc,
                "reaction_time": 14.0,
                "growth_steps": growth_steps,
                "growth_step": 10.0,
            },
        ),
    ]


def conditions_of(step: CampaignStep) -> list[dict[str, float]]:
    """The (t_nuc, t_growth, reaction_time) conditions a step will measure, in order."""
    k = step.kwargs
    if step.plan == "condition_scan":
        return [dict(c) for c in k["conditions"]]
    if step.plan == "temperature_grid":
        n = int(k.get("growth_steps", 10))
        dt = float(k.get("growth_step", 10.0))
        return [
            {"t_nuc": tn, "t_growth": tn - i * dt, "reaction_time": k["reaction_time"]}
            for tn in k["nucleation_temperatures"]
            for i in range(n)
        ]
    if step.plan == "reaction_time_series":
        return [
            {"t_nuc": k["t_nuc"], "t_growth": k["t_growth"], "reaction_time": t}
            for t in k["reaction_times"]
        ]
    if step.plan == "nucleation_series":
        return [
            {"t_nuc": tn, "t_growth": k["t_growth"], "reaction_time": k["reaction_time"]}
            for tn in k["nucleation_temperatures"]
        ]
    t = float(k.get("reaction_time", 1.5))
    return [{"t_nuc": x, "t_growth": x, "reaction_time": t} for x in k["temperatures"]]


def _plan(name: str):
    from msc_bluesky import plans

    return getattr(plans, name)


def simulated_reactor_configuration():
    """Geometry and pump limits of the simulated reactor a local campaign starts.

    Used to check flows before any IOC runs; a campaign on a running reactor is checked
    again against the configuration read from its IOC before the first step.
    """
    from msc_bluesky.limits import PUMP_MAX_FLOW_ML_MIN
    from msc_bluesky.plans.validation import ReactorConfiguration
    from msc_bluesky.sim.geometry import ReactorGeometry

    g = ReactorGeometry()
    return ReactorConfiguration(
        g.nucleation_volume_ml, g.growth_volume_ml, g.transfer_volume_ml,
        PUMP_MAX_FLOW_ML_MIN, PUMP_MAX_FLOW_ML_MIN,
    )  # fmt: skip


def check_step(step: CampaignStep, configuration=None) -> list[dict[str, float]]:
    """Check one step completely: argument names, types and ranges, every condition,
    the flows its reaction times need.

    Parameters
    ----------
    step : CampaignStep
    configuration : msc_bluesky.plans.validation.ReactorConfiguration, optional
        The reactor's geometry and pump limits; default the simulated reactor's.

    Returns
    -------
    list of dict
        The step's conditions, as floats.

    Raises
    ------
    ConditionError
        Naming the step, the argument or condition, the value and what is allowed.
    """
    from msc_bluesky.plans.validation import check_arguments, check_flows

    where = f"step {step.title!r}"
    try:
        check_arguments(_plan(step.plan), step.kwargs)
        conds = conditions_of(step)
        if not conds:
            raise ConditionError("no conditions to measure")
        checked = []
        for i, cond in enumerate(conds, start=1):
            if not isinstance(cond, dict):
                raise ConditionError(
                    f"condition {i} = {cond!r} is not a mapping {{t_nuc, t_growth, reaction_time}}"
                )
            missing = [k for k in ("t_nuc", "t_growth", "reaction_time") if k not in cond]
            unknown = [k for k in cond if k not in ("t_nuc", "t_growth", "reaction_time")]
            if missing or unknown:
                raise ConditionError(
                    f"condition {i} has missing keys {missing} / unknown keys {unknown}; "
                    "expected exactly ['t_nuc', 't_growth', 'reaction_time']"
                )
            try:
                checked.append({
                    "t_nuc": check_temperature("t_nuc", cond["t_nuc"]),
                    "t_growth": check_temperature("t_growth", cond["t_growth"]),
                    "reaction_time": check_reaction_time(cond["reaction_time"]),
                })  # fmt: skip
            except ConditionError as err:
                raise ConditionError(f"{err} (condition {i} of {len(conds)})") from None
        check_flows(checked, configuration or simulated_reactor_configuration())
    except ConditionError as err:
        raise ConditionError(f"{where}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise ConditionError(f"{where}: malformed argument ({type(err).__name__}: {err})") from None
    return checked


def check_campaign(steps: Sequence[CampaignStep], configuration=None) -> int:
    """Check every step of the campaign (:func:`check_step`) before anything moves.

    A misspelt or negative argument in the last step fails here, before the first step
    runs.

    Parameters
    ----------
    steps : sequence of CampaignStep
    configuration : msc_bluesky.plans.validation.ReactorConfiguration, optional
        The reactor's geometry and pump limits; default the simulated reactor's.

    Returns
    -------
    int
        The number of conditions in the campaign.

    Raises
    ------
    ConditionError
        Naming the step, the value and the allowed range.
    """
    if not steps:
        raise ConditionError("the campaign has no steps")
    return sum(len(check_step(step, configuration)) for step in steps)


def with_steady(steps: Sequence[CampaignStep], rule: str) -> list[CampaignStep]:
    """The steps with ``steady=rule`` wherever a step does not choose its own wait.

    A step that sets ``steady`` or ``drift_tolerance`` (the fixed wait's drift check)
    keeps it.

    Parameters
    ----------
    steps : sequence of CampaignStep
    rule : str
        ``"fixed"`` or ``"signal"`` (see :mod:`msc_bluesky.plans.steady`).

    Returns
    -------
    list of CampaignStep
    """
    from msc_bluesky.plans.steady import check_steady

    rule = check_steady("--steady", rule)
    out = []
    for step in steps:
        if "steady" in step.kwargs or step.kwargs.get("drift_tolerance") is not None:
            out.append(step)
        else:
            out.append(CampaignStep(step.title, step.plan, step.detectors,
                                    {**step.kwargs, "steady": rule}))
    return out


#: Keys a step of a YAML campaign file may have.
STEP_KEYS: tuple[str, ...] = ("title", "plan", "detectors", "kwargs")


def _read_text(p: Path) -> str:
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ConditionError(f"campaign file {p} cannot be read: {err.strerror}") from None
    if b"\0" in raw:
        raise ConditionError(f"{p}: a binary file, not a YAML or CSV campaign (text)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConditionError(
            f"{p}: not UTF-8 text (byte {err.start}); campaign files are YAML or CSV text"
        ) from None


def _yaml(p: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            problem = "a tab character; indent YAML with spaces, not tabs"
        raise ConditionError(f"{p}: not valid YAML{where}: {problem}") from None


def _step_from(p: Path, index: int, item: Any) -> CampaignStep:
    where = f"{p}: steps[{index}]"
    if not isinstance(item, dict):
        raise ConditionError(
            f"{where} = {item!r} is not a mapping; a step has keys {', '.join(STEP_KEYS)}"
        )
    unknown = [k for k in item if k not in STEP_KEYS]
    if unknown:
        raise ConditionError(
            f"{where}: unknown key(s) {unknown}; a step has keys {', '.join(STEP_KEYS)}"
        )
    if "plan" not in item:
        raise ConditionError(f"{where}: no 'plan'; allowed: " + ", ".join(CAMPAIGN_PLANS))
    detectors = item.get("detectors", list(DETECTOR_NAMES))
    if not isinstance(detectors, list) or not all(isinstance(d, str) for d in detectors):
        raise ConditionError(
            f"{where}: detectors = {detectors!r} must be a list of names from "
            + ", ".join(DETECTOR_NAMES)
        )
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConditionError(f"{where}: kwargs = {kwargs!r} must be a mapping of arguments")
    title = item.get("title", item["plan"])
    return CampaignStep(
        title=str(title), plan=str(item["plan"]), detectors=tuple(detectors), kwargs=kwargs
    )


def _csv_conditions(p: Path, text: str) -> list[dict[str, float]]:
    need = ("t_nuc", "t_growth", "reaction_time")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise ConditionError(f"{p}: not a valid CSV file ({err})") from None
    rows = [(n, r) for n, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not rows:
        raise ConditionError(f"{p}: empty; a CSV campaign needs the header {','.join(need)}")
    header = [c.strip() for c in rows[0][1]]
    if sorted(header) != sorted(need):
        raise ConditionError(
            f"{p}: header {','.join(header)!r}; a CSV campaign needs exactly the columns "
            + ",".join(need)
        )
    if len(rows) == 1:
        raise ConditionError(f"{p}: no conditions below the header")
    conditions = []
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise ConditionError(
                f"{p} line {number}: {len(row)} value(s), expected {len(header)} "
                f"({','.join(header)})"
            )
        conditions.append({k: _number(v, f"{p} line {number}: {k}") for k, v in zip(
            header, row, strict=True)})  # fmt: skip
    return conditions


def load_campaign(path: str | Path) -> list[CampaignStep]:
    """Read a campaign from a YAML or CSV file.

    YAML: either ``steps:`` — a list of ``{title, plan, detectors, kwargs}`` — or
    ``conditions:`` — a list of ``{t_nuc, t_growth, reaction_time}`` measured with both
    detectors in one :func:`~msc_bluesky.plans.condition_scan`.

    CSV: a header with ``t_nuc,t_growth,reaction_time`` (°C, °C, s), one condition a row.

    The file's structure is checked here; the values by :func:`check_campaign`.

    Raises
    ------
    ConditionError
        If the file is missing, binary, not valid YAML/CSV or not one of these forms,
        with one line saying what was found and what is expected.
    """
    p = Path(path)
    if not p.exists():
        raise ConditionError(f"campaign file {p} does not exist")
    if not p.is_file():
        raise ConditionError(f"campaign file {p} is not a file")
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise ConditionError(f"{p}: campaign files are .yaml, .yml or .csv")
    text = _read_text(p)
    if suffix == ".csv":
        return [_conditions_step(p.name, _csv_conditions(p, text))]
    data = _yaml(p, text)
    if isinstance(data, dict) and "steps" in data:
        steps = data["steps"]
        if not isinstance(steps, list) or not steps:
            raise ConditionError(f"{p}: steps must be a non-empty list of steps, got {steps!r}")
        return [_step_from(p, i, item) for i, item in enumerate(steps)]
    if isinstance(data, dict) and "conditions" in data:
        conditions = data["conditions"]
        if not isinstance(conditions, list) or not conditions:
            raise ConditionError(
                f"{p}: conditions must be a non-empty list of "
                f"{{t_nuc, t_growth, reaction_time}}, got {conditions!r}"
            )
        return [_conditions_step(p.name, conditions)]
    found = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)}"
    raise ConditionError(f"{p}: expected a mapping with 'steps:' or 'conditions:', found {found}")


def _conditions_step(name: str, conditions: Iterable[dict[str, Any]]) -> CampaignStep:
    return CampaignStep(
        f"conditions from {name}", "condition_scan", DETECTOR_NAMES,
        {"conditions": list(conditions)},
    )


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConditionError(f"{where} = {text.strip()!r} is not a number") from None
    return v if math.isfinite(v) else float("nan")

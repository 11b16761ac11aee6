"""What a campaign is: an ordered list of plan calls, JSON-serialisable.

The same list runs locally through a RunEngine or goes to the queue server as
queue items, so both paths measure exactly the same conditions.
"""

from __future__ import annotations

import csv
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


def check_campaign(steps: Sequence[CampaignStep]) -> int:
    """Check every condition of every step before anything moves.

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
    total = 0
    for step in steps:
        try:
            conds = conditions_of(step)
        except (KeyError, TypeError) as err:
            raise ConditionError(
                f"step {step.title!r}: missing or malformed argument {err}"
            ) from None
        if not conds:
            raise ConditionError(f"step {step.title!r} has no conditions")
        for cond in conds:
            for name in ("t_nuc", "t_growth"):
                try:
                    check_temperature(name, cond[name])
                except ConditionError as err:
                    raise ConditionError(f"step {step.title!r}: {err}") from None
            try:
                check_reaction_time(cond["reaction_time"])
            except ConditionError as err:
                raise ConditionError(f"step {step.title!r}: {err}") from None
        total += len(conds)
    return total


def load_campaign(path: str | Path) -> list[CampaignStep]:
    """Read a campaign from a YAML or CSV file.

    YAML: either ``steps:`` — a list of ``{title, plan, detectors, kwargs}`` — or
    ``conditions:`` — a list of ``{t_nuc, t_growth, reaction_time}`` measured with both
    detectors in one :func:`~msc_bluesky.plans.condition_scan`.

    CSV: a header with ``t_nuc,t_growth,reaction_time`` (°C, °C, s), one condition a row.

    Raises
    ------
    ConditionError
        If the file is not one of these forms, with what was found.
    """
    p = Path(path)
    if not p.exists():
        raise ConditionError(f"campaign file {p} does not exist")
    if p.suffix.lower() == ".csv":
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        need = {"t_nuc", "t_growth", "reaction_time"}
        if not rows or not need <= set(rows[0]):
            raise ConditionError(
                f"{p}: a CSV campaign needs the header t_nuc,t_growth,reaction_time"
            )
        return [_conditions_step(p.name, [{k: _number(r[k], p) for k in need} for r in rows])]
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise ConditionError(f"{p}: campaign files are .yaml, .yml or .csv")
    data = yaml.safe_load(p.read_text()) or {}
    if isinstance(data, dict) and "steps" in data:
        return [
            CampaignStep(
                title=str(s.get("title", s.get("plan", "step"))),
                plan=str(s.get("plan")),
                detectors=tuple(s.get("detectors", DETECTOR_NAMES)),
                kwargs=dict(s.get("kwargs", {})),
            )
            for s in data["steps"]
        ]
    if isinstance(data, dict) and "conditions" in data:
        return [_conditions_step(p.name, list(data["conditions"]))]
    raise ConditionError(f"{p}: expected a mapping with 'steps:' or 'conditions:'")


def _conditions_step(name: str, conditions: Iterable[dict[str, Any]]) -> CampaignStep:
    return CampaignStep(
        f"conditions from {name}", "condition_scan", DETECTOR_NAMES,
        {"conditions": list(conditions)},
    )


def _number(text: str, path: Path) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConditionError(f"{path}: {text!r} is not a number") from None
    return v if math.isfinite(v) else float("nan")

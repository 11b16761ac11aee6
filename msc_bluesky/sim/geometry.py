"""Reactor geometry: volumes, and how a reaction time splits between the two zones."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from msc_bluesky.limits import check_reaction_time


@dataclass(frozen=True)
class ReactorGeometry:
    """Volumes of the flow reactor (mL); defaults from docs/architecture.md.

    Attributes
    ----------
    nucleation_volume_ml : float
        Nucleation chamber volume (mL), held at T_nuc.
    growth_volume_ml : float
        Growth oven volume (mL), held at T_growth.
    transfer_volume_ml : float
        Transfer line from the oven to the flow cells (mL).
    """

    nucleation_volume_ml: float = 0.020
    growth_volume_ml: float = 0.280
    transfer_volume_ml: float = 0.050

    def __post_init__(self) -> None:
        for name in ("nucleation_volume_ml", "growth_volume_ml", "transfer_volume_ml"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(
                    f"{name} = {v!r} mL is not allowed; it must be a finite volume > 0"
                )

    @property
    def reaction_volume_ml(self) -> float:
        """Chamber plus oven volume (mL); the liquid reacts while it is in there."""
        return self.nucleation_volume_ml + self.growth_volume_ml

    def split(self, reaction_time: float) -> tuple[float, float]:
        """Return ``(t_chamber, t_oven)`` in s for a total reaction time in s."""
        t = check_reaction_time(reaction_time)
        t_chamber = t * self.nucleation_volume_ml / self.reaction_volume_ml
        return t_chamber, t - t_chamber

    def reaction_time(self, total_flow_ml_min: float) -> float:
        """Reaction time (s) at a total flow (mL/min); ``inf`` when nothing flows."""
        q = float(total_flow_ml_min)
        if not q > 0:
            return math.inf
        return self.reaction_volume_ml / q * 60.0

    def total_flow_for(self, reaction_time: float) -> float:
        """Total flow (mL/min) that gives ``reaction_time`` (s)."""
        t = check_reaction_time(reaction_time)
        return self.reaction_volume_ml / t * 60.0

    def to_dict(self) -> dict[str, float]:
        """The three volumes as a JSON-able dict."""
        return asdict(self)

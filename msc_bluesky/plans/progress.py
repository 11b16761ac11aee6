"""A per-condition progress bar for the terminal (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


class ConditionProgress:
    """Progress over the conditions of one scan.

    Parameters
    ----------
    total : int
        Number of conditions.
    description : str
        Shown left of the bar (the plan name).
    enabled : bool or None
        ``None`` shows the bar only when stderr is a terminal.
    """

    def __init__(self, total: int, description: str, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = tqdm(total=total, desc=description, unit="condition",
                              disable=not enabled, leave=True)

    def start(self, condition: dict[str, float]) -> None:
        """Show which condition is being reached."""
        self._bar.set_postfix_str(
            f"T_nuc {condition['t_nuc']:g} °C, T_growth {condition['t_growth']:g} °C, "
            f"t {condition['reaction_time']:g} s"
        )

    def done(self) -> None:
        """Count one condition as measured."""
        self._bar.update(1)

    def close(self) -> None:
        """Close the bar."""
        self._bar.close()

"""Live analysis, live plots and the 0MQ consumer (docs/live_analysis.md).

Importing this package does not import matplotlib (the queue-server startup loads it);
:class:`LivePlot` imports matplotlib when it is first created.
"""

import importlib
from typing import Any

#: Names this package exports -> the module defining them, imported on first access
#: (``msc-bluesky campaign`` needs :class:`LiveAnalysis` only, not the plots or table).
_LAZY: dict[str, str] = {
    "ANALYSIS_PLAN_NAME": "msc_bluesky.callbacks.analysis_run",
    "AnalysisSettings": "msc_bluesky.callbacks.settings",
    "LiveAnalysis": "msc_bluesky.callbacks.analysis_run",
    "LivePlot": "msc_bluesky.callbacks.live_plot",
    "LiveTable": "msc_bluesky.callbacks.live_table",
    "PointResult": "msc_bluesky.callbacks.point_analysis",
    "RawPoint": "msc_bluesky.callbacks.point_analysis",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

"""Live analysis, live plots and the 0MQ consumer (docs/live_analysis.md).

Importing this package does not import matplotlib (the queue-server startup loads it);
:class:`LivePlot` imports matplotlib when it is first created.
"""

from msc_bluesky.callbacks.analysis_run import ANALYSIS_PLAN_NAME, LiveAnalysis
from msc_bluesky.callbacks.live_plot import LivePlot
from msc_bluesky.callbacks.live_table import LiveTable
from msc_bluesky.callbacks.point_analysis import PointResult, RawPoint
from msc_bluesky.callbacks.settings import AnalysisSettings

__all__ = [
    "ANALYSIS_PLAN_NAME",
    "AnalysisSettings",
    "LiveAnalysis",
    "LivePlot",
    "LiveTable",
    "PointResult",
    "RawPoint",
]

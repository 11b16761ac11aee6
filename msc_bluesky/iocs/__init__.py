"""Simulated EPICS IOCs (caproto) over :mod:`msc_bluesky.sim`.

One process serves ``{P}reactor:``, ``{P}uvvis:`` and ``{P}saxs:``
(``msc-bluesky ioc`` or ``python -m msc_bluesky.iocs``); start it from Python with
:class:`msc_bluesky.iocs.launcher.SimulatedIOC`. Nothing is imported or connected here,
so importing the package is cheap.
"""

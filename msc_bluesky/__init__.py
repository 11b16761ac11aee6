"""msc_bluesky: Bluesky/ophyd plugin for in-situ CdSe MSC/NC flow-reactor studies.

Layers (each imports only from layers below it)::

    cli / campaign / profile_collection     entry points
    session                                 RunEngine + subscriptions from one config
    plans | callbacks | storage             bluesky plans, live analysis, tiled
    instrument                              device factories
    devices                                 ophyd classes
    iocs                                    caproto PVGroups over the simulator
    analysis | sim                          pure numpy/scipy
    physics                                 shared CdSe material relations
    limits                                  shared operating limits
"""

__version__ = "0.1.0"

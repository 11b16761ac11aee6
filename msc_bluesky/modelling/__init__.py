"""Fitting the kinetic model to a campaign (issue 14): rates, activation energies, predictions.

A layer above the analysis and the kinetic model (``msc_bluesky.sim``); pure
numpy/scipy (figures with matplotlib, the fit run's documents with event-model).
See docs/modelling.md.

- :func:`fit_kinetics` -> :class:`KineticFit`: values, standard errors, correlations,
  identified / held parameters, residuals per condition, ``predict``,
  ``msc437_window_c``;
- :mod:`.observables`: the model's composition -> the analysis fields;
- :mod:`.parameters`: which parameters are fitted (``k_*``, ``ea_*`` by default);
- :mod:`.identifiability`: covariance and identification;
- :mod:`.window`: where CdSe-437 persists, predicted and measured;
- :mod:`.synthetic`: a campaign table made by the model, with noise;
- :mod:`.figures`: parity, Arrhenius and phase-map figures;
- :mod:`.fit_run`: the fit as a bluesky run (documents) for the store.
"""

from msc_bluesky.modelling.fit import (
    WINDOW_REACTION_TIMES_S,
    ConditionResidual,
    FittedParameter,
    KineticFit,
    fit_kinetics,
)
from msc_bluesky.modelling.observables import (
    DETECTION_ABSORBANCE,
    OBSERVABLE_NAMES,
    OBSERVABLES,
    model_observables,
)
from msc_bluesky.modelling.parameters import default_free_parameters, parameter_names
from msc_bluesky.modelling.synthetic import synthetic_campaign_table
from msc_bluesky.modelling.window import measured_msc437_window_c

__all__ = [
    "DETECTION_ABSORBANCE",
    "OBSERVABLES",
    "OBSERVABLE_NAMES",
    "WINDOW_REACTION_TIMES_S",
    "ConditionResidual",
    "FittedParameter",
    "KineticFit",
    "default_free_parameters",
    "fit_kinetics",
    "measured_msc437_window_c",
    "model_observables",
    "parameter_names",
    "synthetic_campaign_table",
]

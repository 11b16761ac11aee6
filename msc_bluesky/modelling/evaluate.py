"""Run the kinetic model over a campaign's conditions, optionally on several processes."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from msc_bluesky.modelling.batch import batch_compositions
from msc_bluesky.modelling.observables import OBSERVABLE_NAMES, model_observables
from msc_bluesky.sim import KineticParameters, ReactorGeometry

Condition = tuple[float, float, float]


def observable_table(
    params: KineticParameters,
    conditions: Sequence[Condition],
    geometry: ReactorGeometry | None = None,
    path_length_cm: float = 0.1,
) -> np.ndarray:
    """Model observables, one row per condition, columns in :data:`OBSERVABLE_NAMES` order.

    A condition where the model fails to integrate gives a row of NaN. The conditions
    are integrated together (:func:`.batch.batch_compositions`).
    """
    out = np.full((len(conditions), len(OBSERVABLE_NAMES)), math.nan)
    for i, comp in enumerate(batch_compositions(conditions, params, geometry)):
        if comp is None:
            continue
        obs = model_observables(comp, path_length_cm)
        out[i] = [obs[n] for n in OBSERVABLE_NAMES]
    return out


class ModelRunner:
    """Evaluates :func:`observable_table` for many parameter sets.

    Parameters
    ----------
    conditions : sequence of (t_nuc, t_growth, reaction_time)
    geometry : ReactorGeometry, optional
    path_length_cm : float
    workers : int
        Processes to spread parameter sets over (1: in this process). The pool uses
        the ``spawn`` start method, safe next to threads (tiled clients, progress bars).
    """

    def __init__(
        self,
        conditions: Sequence[Condition],
        geometry: ReactorGeometry | None = None,
        path_length_cm: float = 0.1,
        workers: int = 1,
    ) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.conditions = list(conditions)
        self.geometry = geometry
        self.path_length_cm = float(path_length_cm)
        self.workers = int(workers)
        self._pool: ProcessPoolExecutor | None = None
        self.evaluations = 0

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def one(self, params: KineticParameters) -> np.ndarray:
        """The observable table of one parameter set (in this process)."""
        self.evaluations += 1
        return observable_table(params, self.conditions, self.geometry, self.path_length_cm)

    def many(self, params: Sequence[KineticParameters]) -> list[np.ndarray]:
        """Observable tables of several parameter sets (in parallel when workers > 1).

        Each set is one stacked model run over every condition (on one process), so a
        table does not depend on the number of workers; a single set (the optimiser's
        trial points) runs in this process.
        """
        if self.workers == 1 or len(params) < 2:
            return [self.one(p) for p in params]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        futures = [
            self._pool.submit(
                observable_table, p, self.conditions, self.geometry, self.path_length_cm
            )
            for p in params
        ]
        self.evaluations += len(params)
        return [f.result() for f in futures]

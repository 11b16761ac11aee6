"""Cache of kinetics results and noiseless signals per rounded flow-cell condition.

The flow cell mixes a few dozen labels of liquid whose conditions repeat while the
reactor is steady; each is simulated once and reused (least recently used first out).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from msc_bluesky.sim.flowcell import CellCondition
from msc_bluesky.sim.geometry import ReactorGeometry
from msc_bluesky.sim.kinetics import Composition, KineticParameters, simulate_kinetics
from msc_bluesky.sim.optics import absorbance_spectrum
from msc_bluesky.sim.scattering import saxs_curve

#: Entries kept per cache.
CACHE_SIZE = 4096


class LRU:
    """A small least-recently-used cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value for ``key``, made by ``make()`` on a miss."""
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = make()
        self._data[key] = value
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


def array_key(a: np.ndarray) -> tuple:
    """A hashable key of an axis (shape and bytes)."""
    a = np.ascontiguousarray(a, dtype=float)
    return (a.shape, hash(a.tobytes()))


def geometry_key(geometry: ReactorGeometry) -> tuple[float, float, float]:
    """The three volumes of ``geometry``, as a key."""
    return (float(geometry.nucleation_volume_ml), float(geometry.growth_volume_ml),
            float(geometry.transfer_volume_ml))


class SignalCache:
    """Compositions, noiseless spectra and noiseless SAXS curves per condition.

    Parameters
    ----------
    kinetic_params : KineticParameters, optional
        Passed to :func:`simulate_kinetics` (default: its defaults).
    """

    def __init__(self, kinetic_params: KineticParameters | None = None) -> None:
        self.kinetic_params = kinetic_params
        self._compositions = LRU(CACHE_SIZE)
        self._spectra = LRU(CACHE_SIZE)
        self._curves = LRU(CACHE_SIZE)

    def composition(self, condition: CellCondition, geometry: ReactorGeometry) -> Composition:
        """The kinetics result for one rounded condition."""
        def make() -> Composition:
            return simulate_kinetics(condition.t_nuc, condition.t_growth,
                                     condition.reaction_time, geometry=geometry,
                                     params=self.kinetic_params)

        return self._compositions.get((condition, geometry_key(geometry)), make)

    def spectrum(self, condition: CellCondition, geometry: ReactorGeometry,
                 wavelength_nm: np.ndarray, path_length_cm: float) -> np.ndarray:
        """Noiseless absorbance of one condition on ``wavelength_nm``."""
        key = (condition, geometry_key(geometry), array_key(wavelength_nm),
               float(path_length_cm))
        return self._spectra.get(key, lambda: np.asarray(absorbance_spectrum(
            self.composition(condition, geometry), wavelength_nm,
            path_length_cm=path_length_cm), dtype=float))

    def curve(self, condition: CellCondition, geometry: ReactorGeometry,
              q_per_nm: np.ndarray) -> np.ndarray:
        """Noiseless SAXS intensity (cm^-1) of one condition, mesophase at T_growth."""
        def make() -> np.ndarray:
            i, _ = saxs_curve(self.composition(condition, geometry), q_per_nm,
                              temperature_c=condition.t_growth)
            return np.asarray(i, dtype=float)

        return self._curves.get((condition, geometry_key(geometry), array_key(q_per_nm)), make)

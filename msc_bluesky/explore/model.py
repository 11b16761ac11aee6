"""Surrogate models of the measured outcome over the exploration space.

The CdSe-437 map is a yes/no outcome. It is modelled by Gaussian-process regression on
labels ±1 (least-squares GP classification): the posterior mean f and standard deviation
s give ``P(CdSe-437) = Φ(f / sqrt(s² + σ_n²))``. Unlike scikit-learn's
``GaussianProcessClassifier`` it works from the first measured point, with one class
seen, and gives the uncertainty the proposal rule needs.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtr

#: Length-scale bounds in scaled units (1 = 100 °C, or a factor e in reaction time).
LENGTH_SCALE_BOUNDS = (0.05, 10.0)


def _kernel(n_dims: int):
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    return ConstantKernel(1.0, (0.1, 10.0)) * RBF(
        length_scale=np.full(n_dims, 0.3), length_scale_bounds=LENGTH_SCALE_BOUNDS
    ) + WhiteKernel(0.01, (1e-4, 0.5))


class GPSurrogate:
    """Gaussian-process regression of one outcome over scaled coordinates.

    Parameters
    ----------
    seed : int
        Seed of the optimiser restarts (results are reproducible).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._gp = None  # sklearn GaussianProcessRegressor once fitted
        self._mean = 0.0

    @property
    def fitted(self) -> bool:
        """Whether the model has seen data."""
        return self._gp is not None

    def fit(self, x: np.ndarray, y: np.ndarray) -> GPSurrogate:
        """Fit to points ``x`` (n, d) and outcomes ``y`` (n,)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.asarray(y, dtype=float)
        if len(x) == 0:
            self._gp = None
            return self
        self._gp = GaussianProcessRegressor(
            kernel=_kernel(x.shape[1]),
            normalize_y=False,
            n_restarts_optimizer=1,
            random_state=self.seed,
        )
        self._mean = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._gp.fit(x, y - self._mean)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at ``x`` (prior 0 ± 1 before any data)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if self._gp is None:
            return np.zeros(len(x)), np.ones(len(x))
        mean, std = self._gp.predict(x, return_std=True)
        return mean + self._mean, np.maximum(std, 1e-9)

    @property
    def noise_variance(self) -> float:
        """Fitted white-noise variance (0 before any data)."""
        if self._gp is None:
            return 0.0
        return float(self._gp.kernel_.k2.noise_level)


class PresenceModel:
    """Probability that an outcome (CdSe-437 present) holds, from yes/no measurements."""

    def __init__(self, seed: int = 0) -> None:
        self.surrogate = GPSurrogate(seed)

    def fit(self, x: np.ndarray, present: np.ndarray) -> PresenceModel:
        """Fit to points ``x`` and booleans ``present``."""
        labels = np.where(np.asarray(present, dtype=bool), 1.0, -1.0)
        self.surrogate.fit(x, labels)
        return self

    def probability(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``P(present)`` and the latent's standard deviation at ``x``."""
        mean, std = self.surrogate.predict(x)
        scale = np.sqrt(std**2 + self.surrogate.noise_variance)
        return ndtr(mean / scale), std

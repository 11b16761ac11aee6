"""Input checks shared by the fitting functions: clear ValueErrors, never silent fixes."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_curve(
    x: ArrayLike,
    y: ArrayLike,
    *,
    x_name: str,
    y_name: str,
    min_points: int,
    positive_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x`` and ``y`` as float arrays after checking they describe one curve.

    Raises
    ------
    ValueError
        If the arrays are not one-dimensional, differ in length, have fewer than
        ``min_points`` points, hold NaN or infinity, or ``x`` is not strictly increasing
        (or not positive when ``positive_x``).
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or ya.ndim != 1:
        raise ValueError(
            f"{x_name} and {y_name} must be one-dimensional arrays, got shapes "
            f"{xa.shape} and {ya.shape}"
        )
    if xa.size != ya.size:
        raise ValueError(
            f"{x_name} has {xa.size} points but {y_name} has {ya.size}: lengths must match"
        )
    if xa.size < min_points:
        raise ValueError(f"{x_name} has {xa.size} points; at least {min_points} are needed")
    for name, arr in ((x_name, xa), (y_name, ya)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} holds {int(bad.sum())} non-finite value(s) (NaN or inf), first at "
                f"index {int(np.argmax(bad))}; only finite numbers are allowed"
            )
    steps = np.diff(xa)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"{x_name} must be strictly increasing; it goes from {xa[i]:g} to {xa[i + 1]:g} "
            f"at index {i + 1} (sort the curve first)"
        )
    if positive_x and xa[0] <= 0:
        raise ValueError(f"{x_name} must be positive, got a first value of {xa[0]:g}")
    return xa, ya


def as_sigma(sigma: ArrayLike, n: int, *, name: str = "sigma") -> np.ndarray:
    """Return per-point uncertainties as a positive finite float array of length ``n``."""
    s = np.asarray(sigma, dtype=float)
    if s.ndim == 0:
        s = np.full(n, float(s))
    if s.ndim != 1 or s.size != n:
        raise ValueError(f"{name} has shape {s.shape}; it must be a scalar or have {n} points")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name} must be finite and strictly positive everywhere")
    return s


def positive_number(value: float, name: str) -> float:
    """Return ``value`` as a float after checking it is finite and positive."""
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a positive number, got {value!r}") from err
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v

"""The transitions fit's exact small NNLS against scipy's general one."""

import numpy as np
import pytest
from scipy.optimize import nnls

from msc_bluesky.analysis.nc_search import small_nnls


@pytest.mark.parametrize("seed", range(5))
def test_small_nnls_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        a = rng.normal(size=(60, 4))
        a[:, 1] += a[:, 0] * rng.uniform(0, 3)  # correlated columns, as exciton G and L
        y = rng.normal(size=60)
        ref, rnorm = nnls(a, y)
        for support in (None, rng.random(4) < 0.5, ref > 0, np.zeros(4, dtype=bool)):
            x = small_nnls(a, y, support)
            assert np.all(x >= 0)
            assert np.linalg.norm(y - a @ x) == pytest.approx(rnorm, rel=1e-9, abs=1e-12)


def test_small_nnls_all_negative_is_zero():
    a = np.eye(3)
    assert np.array_equal(small_nnls(a, -np.ones(3)), np.zeros(3))

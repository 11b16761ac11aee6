"""The shared CdSe relations against the table in docs/science.md."""

import numpy as np
import pytest

from msc_bluesky.limits import ConditionError, check_reaction_time, check_temperature
from msc_bluesky.physics import sizing, spheres


@pytest.mark.parametrize(
    "wavelength, diameter, units",
    [(350, 1.09, 12), (380, 1.37, 25), (403, 1.58, 38), (437, 1.85, 61), (465, 2.06, 84)],
)
def test_yu_curve_matches_msc_table(wavelength, diameter, units):
    d = sizing.yu_diameter_nm(wavelength)
    assert d == pytest.approx(diameter, abs=0.01)
    assert sizing.units_per_particle(d) == pytest.approx(units, abs=1.0)


def test_yu_curve_final_nc_and_inverse():
    assert sizing.yu_diameter_nm(572) == pytest.approx(3.57, abs=0.01)
    for lam in (350.0, 437.0, 527.0, 640.0):
        assert sizing.yu_wavelength_nm(sizing.yu_diameter_nm(lam)) == pytest.approx(lam, abs=1e-3)
    with pytest.raises(ValueError, match="outside"):
        sizing.yu_wavelength_nm(50.0)


def test_extinction_and_beer_lambert():
    assert sizing.extinction_coefficient(1.0) == pytest.approx(5857.0)
    eps = sizing.extinction_coefficient(3.0)
    assert sizing.particle_concentration_molar(0.5, 3.0, 0.1) == pytest.approx(0.5 / (eps * 0.1))
    n = sizing.units_per_particle(2.5)
    assert sizing.diameter_from_units(n) == pytest.approx(2.5)


def test_sphere_form_factor_limits_and_first_zero():
    q = np.array([1e-6, 4.4934094579 / 2.0])
    p = spheres.sphere_form_factor(q, 2.0)
    assert p[0] == pytest.approx(1.0)
    assert p[1] == pytest.approx(0.0, abs=1e-12)


def test_msc_intensity_matches_science_estimate():
    # docs/science.md: 1e-3 volume fraction of MSCs gives I(0) ≈ 0.37 cm^-1.
    i0 = spheres.sphere_intensity_cm(np.array([0.0]), 0.94, 1e-3)[0]
    assert i0 == pytest.approx(0.37, rel=0.25)


@pytest.mark.parametrize("bad", [19.9, 360.1, float("nan"), float("inf"), "hot", None])
def test_temperature_limits_refuse_with_allowed_range(bad):
    with pytest.raises(ConditionError, match="20–360 °C"):
        check_temperature("t_nuc", bad)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "soon"])
def test_reaction_time_must_be_finite_positive(bad):
    with pytest.raises(ConditionError, match="> 0 s"):
        check_reaction_time(bad)


def test_limits_accept_edges():
    assert check_temperature("t", 20) == 20.0
    assert check_temperature("t", 360.0) == 360.0
    assert check_reaction_time(1.5) == 1.5

"""Kinetics and composition: the paper's facts on the model's truth."""

import json
import math

import pytest

from msc_bluesky.limits import ConditionError
from msc_bluesky.sim import Composition, KineticParameters, ReactorGeometry, simulate_kinetics


def test_geometry_split_and_flows():
    g = ReactorGeometry()
    t_ch, t_ov = g.split(15.0)
    assert t_ch == pytest.approx(1.0) and t_ov == pytest.approx(14.0)
    assert g.total_flow_for(1.5) == pytest.approx(12.0)
    assert g.reaction_time(g.total_flow_for(7.6)) == pytest.approx(7.6)
    assert math.isinf(g.reaction_time(0.0))
    with pytest.raises(ConditionError, match="> 0"):
        g.split(-1.0)
    with pytest.raises(ValueError, match="nucleation_volume_ml"):
        ReactorGeometry(nucleation_volume_ml=float("nan"))


@pytest.mark.parametrize("t", [4.5, 14.0])
def test_cd_is_conserved(t):
    c = simulate_kinetics(300, 280, t)
    assert c.total_cd_mM == pytest.approx(KineticParameters().precursor_mM, rel=1e-4)


@pytest.mark.parametrize("temperature", [25.0, 60.0, 100.0])
def test_nothing_nucleates_at_or_below_100_c(temperature):
    c = simulate_kinetics(temperature, temperature, 14.0)
    bound = sum(c.msc_units_mM.values()) + c.nc_units_mM
    assert bound < 1e-3 * c.initial_precursor_mM


@pytest.mark.parametrize(
    "bad", [(400, 280, 14), (280, 10, 14), (280, 280, 0), (280, 280, math.inf)]
)
def test_invalid_conditions_raise(bad):
    with pytest.raises(ConditionError, match="allowed|> 0"):
        simulate_kinetics(*bad)


def test_saxs_series_is_quantized_then_continuous():
    """Fig. 2: 1.5 s, T_growth 230 °C; dominant population by T_nuc."""
    expected = {190: 0.87, 200: 0.94, 210: 0.94, 220: 0.94, 230: 0.94, 240: 1.02}
    for t_nuc, radius in expected.items():
        dom = simulate_kinetics(t_nuc, 230, 1.5).dominant_population()
        assert dom.kind == "MSC" and dom.radius_nm == pytest.approx(radius), t_nuc
    nc_radii = []
    for t_nuc in (250, 260, 270, 280):
        dom = simulate_kinetics(t_nuc, 230, 1.5).dominant_population()
        assert dom.kind == "NC", t_nuc
        nc_radii.append(dom.radius_nm)
    assert nc_radii == sorted(nc_radii) and nc_radii[0] > 1.02
    shoulder = simulate_kinetics(230, 230, 1.5).msc_units_mM[467]
    assert shoulder > 0.1 * simulate_kinetics(230, 230, 1.5).msc_units_mM[437]


def test_composition_mix_is_linear_and_truth_is_json():
    a = simulate_kinetics(280, 280, 4.5)
    b = simulate_kinetics(280, 280, 14.0)
    m = Composition.mix([a, b], [0.25, 0.75])
    assert m.nc_units_mM == pytest.approx(0.25 * a.nc_units_mM + 0.75 * b.nc_units_mM)
    assert m.msc_units_mM[437] == pytest.approx(
        0.25 * a.msc_units_mM[437] + 0.75 * b.msc_units_mM[437]
    )
    truth = b.to_dict()
    json.dumps(truth, allow_nan=False)
    names = {p["name"] for p in truth["populations"]}
    assert {"MSC437", "NC"} <= names
    for p in truth["populations"]:
        assert p["radius_nm"] > 0 and p["width_nm"] > 0 and p["volume_fraction"] > 0


def test_msc_supply_stops_with_the_precursor_at_mild_temperature():
    """Mild T: MSCs accumulate in the first seconds, then grow on into NCs."""
    early, late = simulate_kinetics(260, 260, 4.5), simulate_kinetics(260, 260, 14.0)
    msc_early, msc_late = sum(early.msc_units_mM.values()), sum(late.msc_units_mM.values())
    assert msc_late < 0.2 * msc_early
    assert late.monomer_mM > 0.25 * late.initial_precursor_mM  # much monomer left over
    assert late.nc_units_mM > early.nc_units_mM


def test_closed_shell_fraction_is_a_window_of_the_chamber_temperature():
    """The chamber decides: closed-shell (persistent CdSe-437) nuclei only for 270–300 °C."""
    from msc_bluesky.sim.chamber import closed_shell_fraction

    p = KineticParameters()
    inside = [closed_shell_fraction(p, t) for t in (270.0, 280.0, 290.0, 300.0)]
    outside = [closed_shell_fraction(p, t) for t in (250.0, 260.0, 310.0, 320.0, 350.0)]
    assert min(inside) > 0.5 * p.closed_shell_max
    assert max(outside) < 0.01 * min(inside)


def test_the_oven_does_not_nucleate():
    """A cold chamber and a hot oven make nothing: the oven only converts precursor."""
    c = simulate_kinetics(25, 300, 14.0)
    assert c.nc_units_mM + sum(c.msc_units_mM.values()) < 0.05 * c.initial_precursor_mM
    assert c.precursor_mM < 0.1 * c.initial_precursor_mM  # converted to monomer in the oven


def test_closed_shell_cdse437_survives_a_cold_oven_open_clusters_do_not():
    """T_nuc 280 °C keeps CdSe-437 whatever the oven; T_nuc 260 and 310 °C lose it."""
    kept = simulate_kinetics(280, 190, 14.0).msc_units_mM[437]
    lost = [simulate_kinetics(t, t - 90, 14.0).msc_units_mM[437] for t in (260, 310)]
    assert max(lost) < 0.05 * kept

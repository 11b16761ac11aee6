"""Result dictionaries, phase classification and the sizing API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from analysis_synthetic import bragg_curve, saxs_curve, spectrum

from msc_bluesky.analysis import (
    Mesophase,
    Population,
    SizeDistribution,
    SpectrumFit,
    phase,
    saxs,
    sizing,
    uvvis,
)
from msc_bluesky.physics import sizing as physics_sizing

LAM = np.linspace(300.0, 700.0, 1000)
Q = np.geomspace(0.05, 8.0, 300)

SPECTRUM_KEYS = (
    [f"msc{f}_{k}" for f in (350, 380, 403, 437, 467)
     for k in ("detected", "absorbance", "concentration_molar", "absorbance_sigma",
               "centre_nm", "significance")]
    + ["nc_detected", "nc_peak_nm", "nc_fwhm_nm", "nc_diameter_nm", "nc_units_per_particle",
       "nc_extinction_coefficient", "nc_concentration_molar", "nc_peak_nm_sigma",
       "nc_diameter_nm_sigma", "nc_concentration_molar_sigma", "extinction_model",
       "spectrum_r_squared"]
)
SAXS_KEYS = [
    "saxs_radius_nm", "saxs_volume_fraction", "saxs_volume_fraction_sigma", "saxs_background",
    "saxs_total_volume_fraction", "saxs_n_populations", "saxs_fit_ok", "saxs_reduced_chi2",
] + [f"saxs_pop{i}_{k}" for i in (1, 2, 3)
     for k in ("radius_nm", "width_nm", "volume_fraction", "volume_fraction_sigma")]
MESO_KEYS = ["mesophase_detected", "mesophase_q1_per_nm", "mesophase_q2_per_nm",
             "mesophase_d_spacing_nm", "mesophase_lamellar"]


def _rich_and_empty():
    rich_spec = uvvis.fit_spectrum(
        LAM, spectrum(LAM, msc={403.0: 0.1, 437.0: 0.15}, nc_peak_nm=527.0)
    )
    empty_spec = uvvis.fit_spectrum(LAM, np.full(LAM.size, 0.01))
    two = saxs_curve(Q, [(0.94, 0.03, 1e-3), (2.0, 0.1, 1e-3)])
    rich_saxs = saxs.fit_size_distribution(Q, two, 0.01 * two)
    flat = np.full(Q.size, 0.01)
    empty_saxs = saxs.fit_size_distribution(Q, flat, 0.01 * flat)
    rich_meso = saxs.find_mesophase(Q, bragg_curve(Q, [(1.84, 0.3), (3.69, 0.08)]))
    empty_meso = saxs.find_mesophase(Q, flat)
    return [
        (rich_spec, empty_spec, SpectrumFit.empty(), SPECTRUM_KEYS),
        (rich_saxs, empty_saxs, SizeDistribution.empty(), SAXS_KEYS),
        (rich_meso, empty_meso, Mesophase.empty(), MESO_KEYS),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["spectrum", "saxs", "mesophase"])
def test_to_dict_keys_are_fixed_and_json_serialisable(kind):
    rich, empty, failed, keys = _rich_and_empty()[kind]
    dicts = [r.to_dict() for r in (rich, empty, failed)]
    for d in dicts:
        assert list(d) == keys
        json.dumps(d)
        for value in d.values():
            assert isinstance(value, bool | int | float | str | list)
    # Arrays have the same length whatever the input.
    for key in keys:
        if isinstance(dicts[0][key], list):
            assert {len(d[key]) for d in dicts} == {len(dicts[0][key])}


def test_absent_quantities_are_nan_or_false():
    rich, empty, _, _ = _rich_and_empty()[0]
    d = empty.to_dict()
    assert d["nc_detected"] is False and math.isnan(d["nc_peak_nm"])
    r = rich.to_dict()
    assert r["nc_detected"] is True and r["msc437_detected"] is True
    assert r["nc_peak_nm"] == pytest.approx(527.0, abs=2.0)
    rich_saxs, empty_saxs, _, _ = _rich_and_empty()[1]
    assert rich_saxs.to_dict()["saxs_n_populations"] == 2
    assert empty_saxs.to_dict()["saxs_n_populations"] == 0
    assert math.isnan(empty_saxs.to_dict()["saxs_pop1_radius_nm"])
    rich_meso, empty_meso, _, _ = _rich_and_empty()[2]
    assert rich_meso.to_dict()["mesophase_lamellar"] is True
    assert math.isnan(empty_meso.to_dict()["mesophase_d_spacing_nm"])


def test_classify_all_phases():
    fits = {
        "MSC": spectrum(LAM, msc={437.0: 0.15}),
        "MSC+NC": spectrum(LAM, msc={437.0: 0.15}, nc_peak_nm=527.0),
        "NC": spectrum(LAM, nc_peak_nm=527.0),
        "none": spectrum(LAM),
    }
    for expected, y in fits.items():
        assert phase.classify(uvvis.fit_spectrum(LAM, y)) == expected
    assert phase.classify(SpectrumFit.empty()) == "none"
    with pytest.raises(ValueError, match="SpectrumFit"):
        phase.classify({"nc": None})


def test_stored_fields_come_from_the_result_classes():
    from msc_bluesky.callbacks import result_fields as rf

    assert list(SpectrumFit.fields()) == SPECTRUM_KEYS
    assert SpectrumFit.fields()["msc437_detected"] == "bool"
    assert SpectrumFit.fields()["nc_peak_nm_sigma"] == "float"
    assert SpectrumFit.fields()["extinction_model"] == "str"
    assert SizeDistribution.fields()["saxs_n_populations"] == "int"
    assert SizeDistribution.array_fields() == tuple(k for k in SAXS_KEYS if k.startswith(
        ("saxs_radius", "saxs_volume_fraction")) and "pop" not in k and "total" not in k)
    assert list(Mesophase.fields()) == MESO_KEYS
    assert rf.SPECTRUM_FIELDS == SpectrumFit.fields()
    assert set(rf.SCALAR_FIELDS) >= set(SpectrumFit.fields()) | set(Mesophase.fields())
    assert set(rf.SAXS_ARRAY_FIELDS) == set(SizeDistribution.array_fields())


class _Sizes:
    """A size distribution as the SAXS fit gives it (populations, fit_ok)."""

    def __init__(self, pops, fit_ok=True):
        self.populations = [Population(r, 0.05, v) for r, v in pops]
        self.fit_ok = fit_ok


def test_phase_of_spectrum_sizes_or_both():
    msc_nc = uvvis.fit_spectrum(LAM, spectrum(LAM, msc={437.0: 0.15}, nc_peak_nm=527.0))
    nothing = uvvis.fit_spectrum(LAM, spectrum(LAM))
    clusters, ncs = _Sizes([(0.94, 2e-4)]), _Sizes([(0.94, 1e-4), (1.8, 3e-4)])
    assert phase.phase_of() == "unknown"
    assert phase.phase_of(spectrum=msc_nc) == "MSC+NC" == phase.classify(msc_nc)
    assert phase.phase_of(sizes=clusters) == "MSC"
    assert phase.phase_of(sizes=ncs) == "MSC+NC"
    # The spectrum decides when it shows something; SAXS only when it shows nothing.
    assert phase.decide(spectrum=msc_nc, sizes=clusters) == ("MSC+NC", "uvvis")
    assert phase.decide(spectrum=nothing, sizes=clusters) == ("MSC", "saxs")
    assert phase.decide(spectrum=nothing, sizes=_Sizes([])) == ("none", "uvvis")
    # A SAXS fit that does not describe its curve never decides a phase.
    bad = _Sizes([(0.94, 2e-4)], fit_ok=False)
    assert phase.phase_of(sizes=bad) == "unknown"
    assert phase.decide(spectrum=nothing, sizes=bad) == ("none", "uvvis")
    # Stored flat fields give the same answers as the objects.
    assert phase.phase_of(spectrum=msc_nc.to_dict()) == "MSC+NC"
    flat = {"saxs_pop1_radius_nm": 0.94, "saxs_pop1_volume_fraction": 2e-4}
    assert phase.decide(sizes=flat) == ("MSC", "saxs")
    assert phase.phase_of(sizes={**flat, "saxs_fit_ok": False}) == "unknown"
    assert phase.classify_sizes([0.94, 2.0], [1e-4, 1e-6]) == "MSC"  # 1 %: ignored


@pytest.mark.parametrize(
    "wavelength, diameter, units",
    [(350, 1.09, 12), (380, 1.37, 25), (403, 1.58, 38), (437, 1.85, 61), (465, 2.06, 84)],
)
def test_sizing_api_matches_science_table(wavelength, diameter, units):
    d = sizing.yu_diameter_nm(wavelength)
    assert d == pytest.approx(diameter, abs=0.01)
    assert sizing.units_per_particle(d) == pytest.approx(units, abs=1.0)
    assert sizing.aggregation_number(d) == pytest.approx(units, abs=1.0)
    assert sizing.extinction_coefficient(d) == pytest.approx(5857.0 * d**2.65)


def test_sizing_is_the_physics_implementation():
    # Re-exported, not duplicated.
    assert sizing.yu_diameter_nm is physics_sizing.yu_diameter_nm
    assert sizing.EXTINCTION_MODEL == physics_sizing.EXTINCTION_MODEL
    assert sizing.yu_diameter_nm(572) == pytest.approx(3.57, abs=0.01)


def test_classify_sizes_from_saxs_populations():
    from msc_bluesky.analysis.phase import classify_sizes

    nan = float("nan")
    assert classify_sizes([0.94, nan, nan], [2e-4, nan, nan]) == "MSC"
    assert classify_sizes([1.6, nan, nan], [6e-4, nan, nan]) == "NC"
    assert classify_sizes([1.6, 0.94, nan], [6e-4, 1e-4, nan]) == "MSC+NC"
    # a trace population (< 5 % of the volume) does not count
    assert classify_sizes([1.6, 0.94, nan], [6e-4, 1e-5, nan]) == "NC"
    assert classify_sizes([nan, nan, nan], [nan, nan, nan]) == "none"

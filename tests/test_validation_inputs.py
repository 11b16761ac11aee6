"""Everything validated before anything moves: plan arguments, conditions, campaign files.

Numbers are numbers (booleans and strings are refused everywhere), and every malformed
campaign file ends ``msc-bluesky campaign`` with one line on stderr and exit status 2,
before any IOC, store or data directory exists.
"""

from __future__ import annotations

import pytest

from msc_bluesky import plans
from msc_bluesky.campaign.definition import CampaignStep, check_campaign, load_campaign
from msc_bluesky.campaign.runner import run_campaign
from msc_bluesky.cli import main
from msc_bluesky.limits import ConditionError, check_reaction_time, check_temperature
from msc_bluesky.plans.validation import check_arguments, normalise_conditions

GOOD = {"t_nuc": 280.0, "t_growth": 270.0, "reaction_time": 14.0}


@pytest.mark.parametrize("value", [True, False, "300", b"300", None, [300.0]])
def test_temperatures_and_times_must_be_numbers(value):
    with pytest.raises(ConditionError, match="is not a number"):
        check_temperature("t_nuc", value)
    with pytest.raises(ConditionError, match="is not a number"):
        check_reaction_time(value)


def test_numpy_numbers_are_numbers():
    np = pytest.importorskip("numpy")
    assert check_temperature("t_nuc", np.int64(280)) == 280.0
    assert check_reaction_time(np.float32(1.5)) == 1.5


@pytest.mark.parametrize(
    ("key", "value"),
    [("t_nuc", "300"), ("t_growth", True), ("reaction_time", True), ("reaction_time", "14")],
)
def test_conditions_refuse_booleans_and_strings(key, value):
    with pytest.raises(ConditionError, match=rf"conditions\[0\]\.{key} = .* is not a number"):
        normalise_conditions([{**GOOD, key: value}])


def _first_message(plan):
    """Advance a plan to its first message: the validation runs before it."""
    return next(plan)


@pytest.mark.parametrize(
    ("plan", "args", "kwargs", "words"),
    [
        (plans.condition_scan, ([{**GOOD, "reaction_time": True}],), {}, "is not a number"),
        (plans.condition_scan, ([{**GOOD, "t_nuc": "300"}],), {}, "is not a number"),
        (plans.condition_scan, ([GOOD],), {"residence_volumes": True}, "is not a number"),
        (plans.condition_scan, ([GOOD],), {"recovery_timeout": "60"}, "is not a number"),
        (plans.temperature_grid, ([280.0], 14.0), {"growth_steps": True}, "is not a number"),
        (plans.temperature_grid, ([280.0], 14.0), {"growth_steps": "2"}, "is not a number"),
        (plans.temperature_grid, ([280.0], 14.0), {"growth_step": "10"}, "is not a number"),
        (plans.temperature_grid, (["280"], 14.0), {}, "is not a number"),
        (plans.reaction_time_series, (280.0, 280.0, ["4.5"]), {}, "is not a number"),
        (plans.nucleation_series, ([260.0], True, 1.5), {}, "is not a number"),
        (plans.precursor_blank, ([25.0],), {"reaction_time": "1.5"}, "is not a number"),
    ],
)
def test_every_plan_refuses_booleans_and_strings_before_moving(plan, args, kwargs, words):
    with pytest.raises(ConditionError, match=words):
        _first_message(plan([], None, *args, **kwargs))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"nucleation_temperatures": [260], "reaction_tme": 14},
         "unknown argument 'reaction_tme' for temperature_grid \\(did you mean 'reaction_time'"),
        ({"reaction_time": 14}, "needs the argument\\(s\\) nucleation_temperatures"),
        ({"nucleation_temperatures": [260], "reaction_time": 14, "growth_steps": "ten"},
         "growth_steps = 'ten' \\(str\\) is not allowed; it must be a whole number"),
        ({"nucleation_temperatures": [260], "reaction_time": 14, "growth_steps": 2.5},
         "must be a whole number"),
        ({"nucleation_temperatures": [260], "reaction_time": 14, "growth_step": -5},
         "growth_step = -5 is not allowed; it must be finite and > 0"),
        ({"nucleation_temperatures": [260], "reaction_time": 14, "suspend": "no"},
         "suspend = 'no' \\(str\\) is not allowed; it must be true or false"),
        ({"nucleation_temperatures": 260, "reaction_time": 14}, "must be a list of numbers"),
    ],
)  # fmt: skip
def test_plan_arguments_checked_by_name_type_and_range(kwargs, words):
    with pytest.raises(ConditionError, match=words):
        check_arguments(plans.temperature_grid, kwargs)


def _grid_step(title="grid", **kwargs):
    args = {"nucleation_temperatures": [280.0], "reaction_time": 14.0, "growth_steps": 1}
    return CampaignStep(title, "temperature_grid", ("uvvis",), {**args, **kwargs})


def test_unreachable_reaction_time_is_refused_with_the_reachable_range():
    step = _grid_step("fast", reaction_time=0.5)
    with pytest.raises(ConditionError, match="step 'fast': .*above the pump maxima.* >= 0.9 s"):
        check_campaign([step])


class _RecordingRE:
    """Stands in for the RunEngine: records every plan it is asked to run."""

    def __init__(self):
        self.calls = []
        self.state = "idle"

    def __call__(self, plan):
        self.calls.append(plan)
        return ()


class _Session:
    def __init__(self):
        self.RE = _RecordingRE()
        self.reactor = self.uvvis = self.saxs = object()


@pytest.mark.parametrize(
    "bad",
    [
        {"reaction_tme": 14.0},
        {"growth_step": -10.0},
        {"reaction_time": True},
        {"growth_steps": "2"},
    ],
)
def test_a_bad_later_step_fails_before_the_first_step_runs(bad):
    session = _Session()
    steps = [_grid_step("first"), _grid_step("second"), _grid_step("third", **bad)]
    with pytest.raises(ConditionError, match="step 'third'"):
        run_campaign(steps, session, "c1", echo=lambda line: None)
    assert session.RE.calls == []


# -- campaign files: one line, exit status 2 ---------------------------------------------

BAD_FILES = {
    "malformed.yaml": "steps:\n  - plan: condition_scan\n    kwargs: {conditions: [\n",
    "tabs.yaml": "steps:\n\t- plan: condition_scan\n",
    "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
    "latin1.yaml": "title: caf\xe9\n".encode("latin-1"),
    "steps42.yaml": "steps: [42]\n",
    "stepsmap.yaml": "steps: {plan: condition_scan}\n",
    "scalar.yaml": "42\n",
    "empty.yaml": "",
    "nokeys.yaml": "title: nothing to run\n",
    "badkey.yaml": "steps:\n  - plan: condition_scan\n    kwarg: {}\n",
    "noplan.yaml": "steps:\n  - detectors: [uvvis]\n",
    "detstr.yaml": "steps:\n  - plan: condition_scan\n    detectors: uvvis\n",
    "kwargslist.yaml": "steps:\n  - plan: condition_scan\n    kwargs: [1, 2]\n",
    "growthsteps.yaml": (
        "steps:\n  - plan: temperature_grid\n    kwargs: {nucleation_temperatures: [280],"
        " reaction_time: 14, growth_steps: ten}\n"
    ),
    "booltime.yaml": "conditions:\n  - {t_nuc: 280, t_growth: 270, reaction_time: true}\n",
    "strtemp.yaml": "conditions:\n  - {t_nuc: '300', t_growth: 270, reaction_time: 14}\n",
    "missingkey.yaml": "conditions:\n  - {t_nuc: 280, t_growth: 270}\n",
    "conditions42.yaml": "conditions: 42\n",
    "later.yaml": (
        "steps:\n"
        "  - plan: condition_scan\n"
        "    kwargs: {conditions: [{t_nuc: 280, t_growth: 270, reaction_time: 14}]}\n"
        "  - plan: temperature_grid\n"
        "    kwargs: {nucleation_temperatures: [280], reaction_time: 14, growth_step: -10}\n"
    ),
    "missing_field.csv": "t_nuc,t_growth,reaction_time\n280,270,14\n290,280\n",
    "extra_field.csv": "t_nuc,t_growth,reaction_time\n280,270,14,1\n",
    "text.csv": "t_nuc,t_growth,reaction_time\n280,hot,14\n",
    "header.csv": "t_nuc,t_growth\n280,270\n",
    "onlyheader.csv": "t_nuc,t_growth,reaction_time\n",
    "binary.csv": b"\x00\x01\x02\x03",
    "campaign.txt": "conditions: []\n",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_every_malformed_campaign_file_gives_one_line_and_status_2(tmp_path, capsys, name):
    path = tmp_path / name
    content = BAD_FILES[name]
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    data_dir = tmp_path / "data"
    assert main(["campaign", "--file", str(path), "--data-dir", str(data_dir)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("msc-bluesky campaign: "), err
    assert "Traceback" not in err and out == ""
    assert not data_dir.exists()


def test_missing_file_and_directory_are_one_line(tmp_path, capsys):
    for target in (tmp_path / "absent.yaml", tmp_path):
        assert main(["campaign", "--file", str(target), "--data-dir", str(tmp_path / "d")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("tabs.yaml", "tab character; indent YAML with spaces"),
        ("binary.yaml", "binary file"),
        ("steps42.yaml", r"steps\[0\] = 42 is not a mapping"),
        ("missing_field.csv", "line 3: 2 value\\(s\\), expected 3"),
        ("text.csv", "line 2: t_growth = 'hot' is not a number"),
        ("later.yaml", "step 'temperature_grid': growth_step = -10 is not allowed"),
        ("booltime.yaml", "reaction_time = True \\(bool\\) is not a number"),
        ("strtemp.yaml", "t_nuc = '300' \\(str\\) is not a number"),
    ],
)
def test_the_line_says_what_was_wrong(tmp_path, name, words):
    path = tmp_path / name
    content = BAD_FILES[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConditionError, match=words):
        check_campaign(load_campaign(path))


def test_good_files_still_load(tmp_path):
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text("reaction_time,t_nuc,t_growth\n14,280,270\n\n4.5, 260, 260\n")
    (step,) = load_campaign(csv_file)
    assert step.kwargs["conditions"] == [
        {"reaction_time": 14.0, "t_nuc": 280.0, "t_growth": 270.0},
        {"reaction_time": 4.5, "t_nuc": 260.0, "t_growth": 260.0},
    ]
    assert check_campaign([step]) == 2

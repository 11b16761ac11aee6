"""SessionConfig parsing and build_session with the embedded store and the live analysis."""

from __future__ import annotations

import pytest
from storage_support import condition_scan, make_devices

from msc_bluesky.session import SessionConfig, build_session
from msc_bluesky.storage.browse import campaign_table, find_runs, run_arrays


def test_from_env_reads_yaml_then_variables(tmp_path):
    config_file = tmp_path / "session.yaml"
    config_file.write_text(
        "prefix: 'A:'\ndata_dir: from_yaml\nbatch_size: 5\nmetadata: {beamline: ID02}\n"
        "progress: false\n"
    )
    cfg = SessionConfig.from_env(
        {"MSC_CONFIG": str(config_file), "MSC_PREFIX": "B:", "MSC_TILED_API_KEY": "k1"}
    )
    assert cfg.prefix == "B:"  # the variable wins over the file
    assert cfg.data_dir == "from_yaml"
    assert cfg.batch_size == 5
    assert cfg.metadata == {"beamline": "ID02"}
    assert cfg.progress is False
    assert cfg.api_key == "k1"
    assert SessionConfig.from_env({}).data_dir == "msc_data"


def test_config_errors_name_the_setting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("prefx: 'A:'\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['prefx'\]; allowed: prefix"):
        SessionConfig.from_yaml(bad)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SessionConfig.from_env({"MSC_BATCH_SIZE": "zero"})
    with pytest.raises(ValueError, match="tiled_uri must start with http"):
        SessionConfig(tiled_uri="ftp://host")
    with pytest.raises(ValueError, match="progress must be true/false"):
        SessionConfig(progress="maybe")


@pytest.mark.integration
def test_session_stores_raw_and_analysis_runs(tmp_path):
    cfg = SessionConfig(
        data_dir=tmp_path / "data",
        devices=False,
        progress=True,
        metadata={"operator": "test"},
    )
    session = build_session(cfg)
    try:
        assert session.live_analysis is not None
        reactor, uvvis, saxs = make_devices(seed=2)
        grid = [
            {"t_nuc": 240.0, "t_growth": 230.0, "reaction_time": 4.0},
            {"t_nuc": 280.0, "t_growth": 230.0, "reaction_time": 4.0},
        ]
        (uid,) = session.RE(condition_scan(reactor, [uvvis, saxs], grid))
        assert session.writer.flush(120)
        client = session.client
        raw = client["raw"][uid]
        assert raw.metadata["start"]["operator"] == "test"
        assert raw.metadata["start"]["scan_id"] == 1
        assert run_arrays(raw)["absorbance"].shape == (2, 1000)
        (analysis,) = find_runs(client, kind="analysis", raw_uid=uid)
        assert analysis.metadata["start"]["plan_name"] == "msc_analysis"
        table = campaign_table(client)
        assert len(table) == 2
        assert {"fit_ok", "phase", "t_nuc"} <= set(table.columns)
        assert (table["analysis_uid"] == analysis.metadata["start"]["uid"]).all()
    finally:
        assert session.close()
    # scan ids continue in a new session on the same data directory
    again = build_session(
        SessionConfig(
            data_dir=tmp_path / "data", devices=False, live_analysis=False, progress=False
        )
    )
    try:
        reactor, uvvis, saxs = make_devices(seed=3)
        (uid2,) = again.RE(condition_scan(reactor, [uvvis], [grid[0]]))
        assert again.writer.flush(60)
        assert again.client["raw"][uid2].metadata["start"]["scan_id"] == 2
    finally:
        again.close()


@pytest.mark.integration
def test_session_with_unreachable_server_backs_up(tmp_path):
    from storage_support import free_port

    cfg = SessionConfig(
        data_dir=tmp_path,
        tiled_uri=f"http://127.0.0.1:{free_port()}",
        api_key="abc",
        devices=False,
        live_analysis=False,
        progress=False,
    )
    import tiled.client.utils as tiled_client_utils

    saved = tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS
    tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS = 1.0, 1
    try:
        session = build_session(cfg)
    finally:
        tiled_client_utils.TILED_RETRY_TIMEOUT, tiled_client_utils.TILED_RETRY_ATTEMPTS = saved
    assert session.client is None
    reactor, uvvis, saxs = make_devices(seed=4)
    (uid,) = session.RE(
        condition_scan(reactor, [uvvis], [{"t_nuc": 1.0, "t_growth": 1.0, "reaction_time": 1.0}])
    )
    assert session.close()
    assert (tmp_path / "backup" / f"{uid}.jsonl").is_file()


def test_session_builds_instrument_devices(tmp_path):
    session = build_session(
        SessionConfig(prefix="T1:", data_dir=tmp_path, live_analysis=False, progress=False)
    )
    try:
        assert session.reactor.name == "reactor"
        assert session.uvvis.prefix.startswith("T1:")
        assert session.saxs.name == "saxs"
    finally:
        session.close()


def _counted_store_opening(monkeypatch):
    """Make the session's store opening count its calls (and open an embedded store)."""
    import threading

    from msc_bluesky import session as session_module

    opened = threading.Event()
    real = session_module._open_store

    def counted(config, directory):
        opened.set()
        return real(config, directory)

    monkeypatch.setattr(session_module, "_open_store", counted)
    return opened


def test_store_after_devices_opens_once_the_session_is_built(tmp_path, monkeypatch):
    opened = _counted_store_opening(monkeypatch)
    seen = []

    def before_devices():  # e.g. the wait for a just-started IOC, during the imports
        seen.append(opened.wait(0.3))

    session = build_session(
        SessionConfig(data_dir=tmp_path, devices=False, live_analysis=False, progress=False),
        store_in_background=True, store_after_devices=True, before_devices=before_devices)
    try:
        assert seen == [False]  # not opening while the session was being built
        assert opened.wait(30)  # then at once, without being asked
        assert session.store_ready(60) is not None and session.store_error == ""
        reactor, uvvis, saxs = make_devices(seed=6)
        (uid,) = session.RE(condition_scan(
            reactor, [uvvis], [{"t_nuc": 1.0, "t_growth": 1.0, "reaction_time": 1.0}]))
        assert session.drain(60)
        assert find_runs(session.client)[-1].metadata["start"]["uid"] == uid
    finally:
        assert session.close()


def test_store_after_devices_is_never_opened_when_the_session_fails(tmp_path, monkeypatch):
    opened = _counted_store_opening(monkeypatch)

    def before_devices():
        raise ConnectionError("no IOC")

    with pytest.raises(ConnectionError, match="no IOC"):
        build_session(
            SessionConfig(data_dir=tmp_path, devices=False, live_analysis=False,
                          progress=False),
            store_in_background=True, store_after_devices=True, before_devices=before_devices)
    assert not opened.wait(0.5)

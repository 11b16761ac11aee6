"""The helpers the profile's startup files call (msc_bluesky.qserver.startup)."""

from __future__ import annotations

from dataclasses import dataclass

from msc_bluesky.qserver.startup import FlushAfterRun, in_queue_server, queue_server_config


class FakeWriter:
    def __init__(self, drains: bool = True):
        self.calls: list[float] = []
        self.drains = drains

    def flush(self, timeout):
        self.calls.append(timeout)
        return self.drains


def test_flush_after_run_waits_for_the_writer_only_at_stop_documents():
    writer = FakeWriter()
    flush = FlushAfterRun(writer, timeout=7.0)
    for name in ("start", "descriptor", "event", "event_page"):
        flush(name, {})
    assert writer.calls == []
    flush("stop", {"run_start": "abc"})
    assert writer.calls == [7.0]


def test_a_slow_store_is_logged_not_raised(caplog):
    flush = FlushAfterRun(FakeWriter(drains=False), timeout=0.5)
    flush("stop", {"run_start": "abc"})
    assert "abc" in caplog.text and "replay" in caplog.text


def test_queue_server_config_turns_plots_and_progress_off():
    @dataclass
    class Config:
        prefix: str = "X:"
        live_plots: bool = True
        progress: bool = True

    cfg = queue_server_config(Config())
    assert (cfg.prefix, cfg.live_plots, cfg.progress) == ("X:", False, False)


def test_plain_python_is_not_the_queue_server():
    assert in_queue_server() is False


def test_live_plots_default_follows_the_display_and_msc_live_plots():
    import sys

    from msc_bluesky.qserver.startup import wants_live_plots
    from msc_bluesky.session import SessionConfig

    headless = sys.platform not in ("darwin", "win32")
    assert wants_live_plots({"DISPLAY": ":0"}) is True
    if headless:
        assert wants_live_plots({}) is False
    assert wants_live_plots({"DISPLAY": ":0", "MSC_LIVE_PLOTS": "0"}) is False
    assert wants_live_plots({"MSC_LIVE_PLOTS": "yes"}) is True
    assert SessionConfig.from_env({"MSC_LIVE_PLOTS": "false"}).live_plots is False
    assert SessionConfig.from_env({"MSC_LIVE_PLOTS": "true"}).live_plots is True


def test_best_effort_callback_tables_always_plots_with_a_display_none_in_the_queue(
    monkeypatch, capsys
):
    from types import SimpleNamespace

    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import det

    import msc_bluesky.qserver.startup as startup

    session = SimpleNamespace(RE=RunEngine({}, context_managers=[]), tokens={})
    monkeypatch.setattr(startup, "in_queue_server", lambda: True)
    assert startup.best_effort_callback(session) is None and session.tokens == {}
    startup.print_banner()
    assert capsys.readouterr().out == ""

    monkeypatch.setattr(startup, "in_queue_server", lambda: False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("MSC_LIVE_PLOTS", "0")
    bec = startup.best_effort_callback(session)
    assert "best_effort" in session.tokens and not bec._plots_enabled
    session.RE(count([det], num=2))
    table = capsys.readouterr().out
    assert "det" in table and table.count("|         2 |") == 1
    monkeypatch.setenv("MSC_LIVE_PLOTS", "1")
    assert startup.best_effort_callback(session)._plots_enabled
    startup.print_banner()
    assert "bec" in capsys.readouterr().out

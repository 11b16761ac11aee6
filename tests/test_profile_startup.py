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

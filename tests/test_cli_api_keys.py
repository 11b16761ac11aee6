"""API keys of commands come from the environment or an owner-only file."""

from __future__ import annotations

import argparse

import pytest

from msc_bluesky.cli.api_keys import add_api_key_file_argument, resolve_api_key


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key")
    add_api_key_file_argument(parser, "MSC_TEST_KEY")
    return parser.parse_args(argv)


def test_the_key_comes_from_a_private_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MSC_TEST_KEY", raising=False)
    assert resolve_api_key(parse(), "MSC_TEST_KEY") is None
    monkeypatch.setenv("MSC_TEST_KEY", "fromenv123")
    assert resolve_api_key(parse(), "MSC_TEST_KEY") == "fromenv123"
    key_file = tmp_path / "key"
    key_file.write_text("fromfile456\n")
    key_file.chmod(0o600)
    assert resolve_api_key(parse("--api-key-file", str(key_file)), "MSC_TEST_KEY") == "fromfile456"


def test_a_shared_key_file_and_two_sources_are_refused(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("secret789\n")
    key_file.chmod(0o640)
    with pytest.raises(ValueError, match="chmod 600"):
        resolve_api_key(parse("--api-key-file", str(key_file)), "MSC_TEST_KEY")
    key_file.chmod(0o600)
    with pytest.raises(ValueError, match="not both"):
        resolve_api_key(parse("--api-key", "x", "--api-key-file", str(key_file)), "MSC_TEST_KEY")

"""API keys for commands: from the environment or an owner-only file, not the command line.

Command lines are visible to every user of the machine (``ps``), so keys given with
``--api-key`` leak; ``--api-key-file FILE`` (mode 0600) or an environment variable do not.
"""

from __future__ import annotations

import argparse
import os


def add_api_key_file_argument(parser: argparse.ArgumentParser, env_var: str) -> None:
    """Add ``--api-key-file FILE``, the alternative to ``$env_var`` and ``--api-key``."""
    parser.add_argument(
        "--api-key-file",
        default=None,
        metavar="FILE",
        help=f"file holding the API key, readable by its owner only (mode 0600); "
        f"or set ${env_var}. --api-key also works but is visible to other users in `ps`",
    )


def resolve_api_key(args: argparse.Namespace, env_var: str) -> str | None:
    """The API key from ``--api-key``, ``--api-key-file`` or ``$env_var`` (in that order).

    Raises
    ------
    ValueError
        If both ``--api-key`` and ``--api-key-file`` are given, or the file is missing,
        empty, or readable by other users.
    """
    from msc_bluesky.qserver.keys import SecretFileError, read_secret_file

    given = getattr(args, "api_key", None)
    key_file = getattr(args, "api_key_file", None)
    if given and key_file:
        raise ValueError("give either --api-key or --api-key-file, not both")
    if key_file:
        try:
            return read_secret_file(key_file)
        except SecretFileError as err:
            raise ValueError(f"--api-key-file: {err}") from None
    return given or os.environ.get(env_var) or None

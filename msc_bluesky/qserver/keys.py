"""Secrets of the queue server, kept in files only their owner can read.

The RE Manager encrypts its 0MQ control socket with a CurveZMQ key pair (bluesky-queueserver's
``QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER`` / ``QSERVER_ZMQ_PUBLIC_KEY``). The pair is generated
once into the queue server's run directory (``<data dir>/qserver``), each key in its own
file with mode 0600 in a 0700 directory, and handed to processes through their
environment, never their command line (``ps`` shows command lines to every user).
The HTTP server's API key follows the same rules (:func:`read_secret_file`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_KEY_FILE = "zmq_server_private.key"
PUBLIC_KEY_FILE = "zmq_public.key"
#: Environment variable through which bluesky-queueserver clients take the public key.
PUBLIC_KEY_ENV = "QSERVER_ZMQ_PUBLIC_KEY"
#: Environment variable from which the RE Manager takes its private key.
PRIVATE_KEY_ENV = "QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER"


class SecretFileError(RuntimeError):
    """A secret file is missing, malformed, or readable by other users."""


@dataclass(frozen=True)
class ZmqKeys:
    """A CurveZMQ key pair of the RE Manager's control socket and where it is stored."""

    public: str
    private: str
    directory: Path

    @property
    def public_path(self) -> Path:
        """File with the public key (clients read it)."""
        return self.directory / PUBLIC_KEY_FILE

    @property
    def private_path(self) -> Path:
        """File with the private key (only the RE Manager uses it)."""
        return self.directory / PRIVATE_KEY_FILE

    def server_env(self) -> dict[str, str]:
        """Environment of the RE Manager: its private key."""
        return {PRIVATE_KEY_ENV: self.private}

    def client_env(self) -> dict[str, str]:
        """Environment of a client (``qserver``, the HTTP server): the public key."""
        return {PUBLIC_KEY_ENV: self.public}


def make_private_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and parents) and make it accessible to its owner only (0700)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def check_owner_only(path: str | Path) -> None:
    """Refuse a secret file that other users could read or write.

    Raises
    ------
    SecretFileError
        If ``path`` grants any permission to its group or to others.
    """
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise SecretFileError(
            f"{path} is readable or writable by other users (mode {mode:04o}); it holds a "
            f"secret: run `chmod 600 {path}`"
        )


def write_secret_file(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` created with mode 0600 (never briefly world-readable)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as stream:
        stream.write(text.strip() + "\n")
    os.chmod(path, 0o600)
    return path


def read_secret_file(path: str | Path) -> str:
    """Return the stripped content of a secret file that only its owner can read.

    Raises
    ------
    SecretFileError
        If the file is missing, empty, or readable by other users.
    """
    path = Path(path)
    if not path.is_file():
        raise SecretFileError(f"{path} does not exist or is not a file")
    check_owner_only(path)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if not text:
        raise SecretFileError(f"{path} is empty")
    return text


def ensure_zmq_keys(directory: str | Path) -> ZmqKeys:
    """Load the RE Manager's key pair from ``directory``, generating it on first use.

    Parameters
    ----------
    directory : str or Path
        The queue server's run directory (made 0700); the keys live in
        ``zmq_server_private.key`` and ``zmq_public.key`` (0600).

    Returns
    -------
    ZmqKeys

    Raises
    ------
    SecretFileError
        If a key file is readable by other users, or the pair does not match.
    """
    from bluesky_queueserver import generate_zmq_keys, generate_zmq_public_key, validate_zmq_key

    directory = make_private_dir(directory)
    private_path = directory / PRIVATE_KEY_FILE
    public_path = directory / PUBLIC_KEY_FILE
    if not private_path.exists():
        public, private = generate_zmq_keys()
        write_secret_file(private_path, private)
        write_secret_file(public_path, public)
        return ZmqKeys(public=public, private=private, directory=directory)
    private = read_secret_file(private_path)
    try:
        validate_zmq_key(private)
    except ValueError as err:
        raise SecretFileError(f"{private_path}: not a 0MQ private key ({err})") from None
    public = generate_zmq_public_key(private)
    if not public_path.exists():
        write_secret_file(public_path, public)
    elif read_secret_file(public_path) != public:
        raise SecretFileError(
            f"{public_path} does not match {private_path}; delete both to generate a new pair"
        )
    return ZmqKeys(public=public, private=private, directory=directory)


def client_public_key(directory: str | Path | None = None, environ=None) -> str | None:
    """The RE Manager's public key for a client, or None when encryption is not in use.

    ``QSERVER_ZMQ_PUBLIC_KEY`` wins; otherwise the key file in ``directory`` (the queue
    server's run directory) if it exists.

    Raises
    ------
    SecretFileError
        If the key file is readable by other users.
    """
    env = os.environ if environ is None else environ
    if env.get(PUBLIC_KEY_ENV):
        return env[PUBLIC_KEY_ENV]
    if directory is not None and (Path(directory) / PUBLIC_KEY_FILE).is_file():
        return read_secret_file(Path(directory) / PUBLIC_KEY_FILE)
    return None

"""bluesky-httpserver in front of the RE Manager: REST access with an API key and roles.

``msc-bluesky qserver --http-port N`` runs ``start-bluesky-httpserver`` on 127.0.0.1
with ``profile_collection/http_server_config.yml``: single-user API-key mode, no
anonymous access, and a role that may add, start and monitor plans but not upload
scripts, execute functions or change permissions. The API key comes from
``MSC_HTTP_API_KEY``, a key file, or a key generated once into the run directory; it
reaches the server through its environment, never its command line.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from msc_bluesky.qserver.keys import read_secret_file, write_secret_file

logger = logging.getLogger(__name__)

#: Environment variable with the HTTP server's API key.
API_KEY_ENV = "MSC_HTTP_API_KEY"
#: Key file generated in the run directory when no key is given.
API_KEY_FILE = "http_api_key"
HTTP_CONFIG = "http_server_config.yml"


class HTTPServerError(RuntimeError):
    """The HTTP server could not be started, or its API key is unusable."""


def check_http_api_key(key: str, source: str) -> str:
    """Return ``key`` if bluesky-httpserver accepts it (letters and digits, 16 or more).

    Raises
    ------
    HTTPServerError
        Naming ``source`` and what is allowed.
    """
    if not key.isalnum() or not key.isascii() or len(key) < 16:
        raise HTTPServerError(
            f"the HTTP API key from {source} must be at least 16 letters and digits "
            "(e.g. `python -c \"import secrets; print(secrets.token_hex(32))\"`)"
        )
    return key


def resolve_http_api_key(
    key_file: str | Path | None, run_dir: Path, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Find the HTTP server's API key; never from the command line.

    In order: ``key_file`` (must be readable by its owner only), ``MSC_HTTP_API_KEY``,
    else ``<run_dir>/http_api_key``, generated on first use with mode 0600.

    Returns
    -------
    (key, source)
        The key and a description of where it came from (for messages; never the key).
    """
    env = os.environ if environ is None else environ
    if key_file is not None:
        return check_http_api_key(read_secret_file(key_file), str(key_file)), str(key_file)
    if env.get(API_KEY_ENV):
        return check_http_api_key(env[API_KEY_ENV], API_KEY_ENV), API_KEY_ENV
    path = Path(run_dir) / API_KEY_FILE
    if not path.exists():
        write_secret_file(path, secrets.token_hex(32))
    return check_http_api_key(read_secret_file(path), str(path)), str(path)


def _server_command() -> list[str]:
    return [sys.executable, "-m", "msc_bluesky.qserver.http"]


def main() -> None:
    """``start-bluesky-httpserver``, without its log line that prints the API key.

    bluesky-httpserver 0.0.14 logs all its settings at INFO when it starts, the
    single-user API key and the token-signing secret included; that line comes from the
    ``bluesky_httpserver.server`` logger, which is kept at WARNING here. Everything else
    (arguments, configuration, uvicorn) is bluesky-httpserver's own ``start_server``.
    """
    logging.getLogger("bluesky_httpserver.server").setLevel(logging.WARNING)
    from bluesky_httpserver.server import start_server

    start_server()


class HTTPServer:
    """A ``start-bluesky-httpserver`` subprocess on 127.0.0.1 in front of one RE Manager.

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1.
    api_key : str
        The single-user API key (passed through the environment).
    zmq_control_addr, zmq_info_addr : str
        The RE Manager's 0MQ addresses.
    zmq_public_key : str or None
        The RE Manager's public key when its control socket is encrypted.
    config : Path or None
        bluesky-httpserver configuration; ``profile_collection/http_server_config.yml``.
    output : file or None
        Where the server's log goes (inherited when None).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        port: int,
        api_key: str,
        zmq_control_addr: str,
        zmq_info_addr: str,
        zmq_public_key: str | None,
        config: Path | None = None,
        output: IO | None = None,
    ) -> None:
        from msc_bluesky.qserver.manager import default_profile_dir

        if not 0 < int(port) < 65536:
            raise HTTPServerError(f"--http-port must be 1..65535, got {port}")
        self.port = int(port)
        self.api_key = check_http_api_key(api_key, "the caller")
        self.config = Path(config) if config else default_profile_dir() / HTTP_CONFIG
        if not self.config.is_file():
            raise HTTPServerError(f"{self.config} is missing; the HTTP server needs it")
        env = {k: v for k, v in os.environ.items() if not k.startswith("QSERVER_HTTP_SERVER")}
        env.update(
            QSERVER_HTTP_SERVER_CONFIG=str(self.config),
            QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY=self.api_key,
            QSERVER_ZMQ_CONTROL_ADDRESS=zmq_control_addr,
            QSERVER_ZMQ_INFO_ADDRESS=zmq_info_addr,
        )
        env.pop(API_KEY_ENV, None)
        env.pop("QSERVER_ZMQ_PUBLIC_KEY", None)
        if zmq_public_key:
            env["QSERVER_ZMQ_PUBLIC_KEY"] = zmq_public_key
        self.env = env
        self.output = output
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the REST API (``.../api/status`` and so on)."""
        return f"http://{self.host}:{self.port}/api"

    def headers(self) -> dict[str, str]:
        """HTTP headers that authenticate a request with the API key."""
        return {"Authorization": f"ApiKey {self.api_key}"}

    def start(self, timeout: float = 60.0) -> HTTPServer:
        """Start the server and wait until ``GET /api/status`` answers with the key.

        Raises
        ------
        HTTPServerError
            If the port is taken, the process exits, or it does not answer in time.
        """
        import httpx

        from msc_bluesky.qserver.stale import StaleManagerError, check_port_free

        try:
            check_port_free(f"tcp://{self.host}:{self.port}", "the HTTP port")
        except StaleManagerError:
            raise HTTPServerError(
                f"{self.host}:{self.port} is already in use; choose another --http-port"
            ) from None
        command = [*_server_command(), "--host", self.host, "--port", str(self.port)]
        logger.info("starting bluesky-httpserver: %s", " ".join(command))
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            code = self.process.poll()
            if code is not None:
                raise HTTPServerError(f"bluesky-httpserver exited with status {code} on start")
            try:
                response = httpx.get(f"{self.url}/status", headers=self.headers(), timeout=2.0)
                if response.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise HTTPServerError(f"bluesky-httpserver did not answer within {timeout} s")
            pause.wait(0.2)

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if not self.running():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> HTTPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - run as the server's subprocess
    main()

"""The tiled profile ``msc``: how ``databroker`` and tiled users find the store by name.

``msc-bluesky serve`` writes a profile pointing at the server it starts; opening the
embedded default store (the IPython profile, the queue server) writes one that opens the
data directory in-process (tiled's ``direct:`` profiles). Then, in any Python session::

    from tiled.client import from_profile
    c = from_profile("msc")["raw"]        # c[-1]: the last scan
    from databroker import Broker, catalog
    db = Broker.named("msc")               # databroker looks into "raw" by itself
    catalog["msc"]                         # the store's root: raw and analysis

The profile goes to tiled's user profile directory (``$TILED_PROFILES``, default
``~/.config/tiled/profiles``), as ``msc.yml``. The last store opened or served wins; a
profile file not written by msc_bluesky is never replaced. Profiles hold no API key:
tiled reads it from ``TILED_API_KEY``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

#: Name of the profile.
PROFILE_NAME = "msc"
#: First line of every profile this module writes (and the only ones it replaces).
MARKER = "# written by msc-bluesky; replaced when another msc_bluesky store is opened"


def profile_dir() -> Path:
    """tiled's user profile directory (``$TILED_PROFILES`` or the user config dir)."""
    from tiled.profiles import paths

    return Path(paths[-1])


def profile_path(name: str = PROFILE_NAME) -> Path:
    """The file the profile ``name`` is written to."""
    return profile_dir() / f"{name}.yml"


def _write(name: str, content: dict) -> Path | None:
    import yaml
    from tiled.profiles import load_profiles

    path = profile_path(name)
    for existing in (path, path.with_suffix(".yaml")):
        if existing.is_file() and not existing.read_text(encoding="utf-8").startswith(MARKER):
            logger.warning(
                "tiled profile %s was not written by msc_bluesky: left unchanged", existing
            )
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"{MARKER}\n" + yaml.safe_dump({name: content}, sort_keys=False)
    # per process and thread, so two sessions writing the profile at once do not collide
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    load_profiles.cache_clear()  # this process sees the new profile too
    return path


def write_server_profile(uri: str, *, name: str = PROFILE_NAME) -> Path | None:
    """Write the profile ``name`` for a tiled server.

    Parameters
    ----------
    uri : str
        The server, e.g. ``http://127.0.0.1:8000``.
    name : str
        Profile name.

    Returns
    -------
    Path or None
        The profile file; None when a profile of that name not written by msc_bluesky
        exists (it is left alone).
    """
    return _write(name, {"uri": uri})


def write_embedded_profile(
    data_dir: str | Path, *, catalog_uri: str | None = None, name: str = PROFILE_NAME
) -> Path | None:
    """Write the profile ``name`` opening a data directory's catalog in-process.

    Parameters
    ----------
    data_dir : str or Path
        The data directory (stored as an absolute path).
    catalog_uri : str, optional
        Catalog database URI (PostgreSQL), as for :func:`.catalog.open_catalog`.
    name : str
        Profile name.

    Returns
    -------
    Path or None
        As :func:`write_server_profile`.
    """
    args: dict = {"data_dir": str(Path(data_dir).resolve())}
    if catalog_uri is not None:
        args["catalog_uri"] = catalog_uri
    tree = {"path": "/", "tree": "msc_bluesky.storage.catalog:catalog_adapter", "args": args}
    return _write(name, {"direct": {"trees": [tree]}})

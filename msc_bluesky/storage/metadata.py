"""RunEngine metadata that survive the session: a dict saved as JSON on every change.

bluesky's ``PersistentDict`` needs ``zict``; this small stand-in keeps ``scan_id`` and
any other ``RE.md`` entries in ``<data_dir>/runengine-metadata.json``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class JSONMetadata(dict):
    """A dict written atomically to a JSON file after every change.

    Parameters
    ----------
    path : str or Path
        The JSON file; read if it exists.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        stored = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        if not isinstance(stored, dict):
            raise ValueError(f"{self.path}: expected a JSON object of RunEngine metadata")
        super().__init__(stored)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary file per process and thread: two sessions on one data directory
        # (two campaigns at once) must not rename each other's file away
        temporary = self.path.with_name(
            f"{self.path.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
        )
        temporary.write_text(json.dumps(dict(self), default=str, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._save()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._save()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Update and save."""
        super().update(*args, **kwargs)
        self._save()

    def pop(self, key: str, *default: Any) -> Any:
        """Pop and save."""
        value = super().pop(key, *default)
        self._save()
        return value

    def clear(self) -> None:
        """Clear and save."""
        super().clear()
        self._save()

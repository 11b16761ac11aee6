"""A throw-away PostgreSQL database per test (127.0.0.1:5432, user postgres, trust auth).

Tests that need PostgreSQL skip with the reason when no server answers there; the
database is dropped at teardown whatever the test did.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

#: The maintenance database to connect to for CREATE/DROP DATABASE.
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def temporary_database(prefix: str = "msc_test") -> Iterator[str]:
    """Yield the URI of a new, uniquely named database; drop it afterwards.

    Skips the calling test (with the reason) when no PostgreSQL server answers.
    """
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(ADMIN_DSN, connect_timeout=3)
    except psycopg2.OperationalError as err:
        pytest.skip(f"no PostgreSQL answers at 127.0.0.1:5432 as user postgres: {err}")
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

"""PostgreSQL helpers for the replica and blob-store tests: a throw-away schema per test on
the server named by SEALDOG_TEST_POSTGRES_URL (set by .ci/postgres.sh), so parallel test
workers never collide."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from sealdog.server.storage.database import make_engine

PG_URL = os.environ.get("SEALDOG_TEST_POSTGRES_URL")


def pg_schema_url() -> Iterator[str]:
    """Yield a URL whose search_path is a fresh schema; drop the schema afterwards."""
    if not PG_URL:
        pytest.skip("SEALDOG_TEST_POSTGRES_URL is not set (CI sets it via .ci/postgres.sh)")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

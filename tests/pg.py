"""The PostgreSQL test server: a throwaway schema per test, or a clear skip when it is not there.

`ANTHROPIC_PROXY_TEST_PG` names the server (default the CI one, database `test` on loopback).
With `ANTHROPIC_PROXY_REQUIRE_PG=1` (set by `.ci/run`) an unreachable server fails instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

BASE_URL = os.environ.get("ANTHROPIC_PROXY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def unreachable_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'anthropic-proxy[postgres]')"
    try:
        psycopg.connect(BASE_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {BASE_URL} is unreachable: {str(exc).strip().splitlines()[0]}"
    return None


def require_pg() -> None:
    """Skip (or, with ANTHROPIC_PROXY_REQUIRE_PG=1, fail) when the server is not there."""
    reason = unreachable_reason()
    if reason is None:
        return
    if os.environ.get("ANTHROPIC_PROXY_REQUIRE_PG") == "1":
        pytest.fail(f"{reason} (ANTHROPIC_PROXY_REQUIRE_PG=1 makes it mandatory)")
    pytest.skip(f"{reason}; set ANTHROPIC_PROXY_TEST_PG to a reachable server to run these")


def url_for(schema: str) -> str:
    sep = "&" if "?" in BASE_URL else "?"
    return f"{BASE_URL}{sep}schema={schema}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new schema name (the store creates it); dropped with everything in it afterwards."""
    import psycopg

    require_pg()
    schema = f"t_{secrets.token_hex(6)}"
    try:
        yield schema
    finally:
        with psycopg.connect(BASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

"""`anthropic-proxy statusline` the fast way: Claude Code runs it on every prompt it draws.

The full command (`commands.statusline_command`) costs argparse, the settings table, orjson
(which imports dataclasses, uuid and inspect), platformdirs and the storage package: ~65 ms of
imports for ~1 ms of queries. This path imports sqlite3 and json and answers the common call
alone: an existing, fully migrated SQLite store, found as `serve` finds it (`locate`).
Whatever it does not handle (PostgreSQL, `--help`, an unknown or abbreviated flag, no store
yet, a store that needs a migration, a SQLite error) goes to the full command, with stdin
already read, so the output is the same either way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from anthropic_proxy.locate import sqlite_path
from anthropic_proxy.usage import statusline

FLAGS = {"--data-dir": "data_dir", "--database-url": "database_url"}
Fallback = Callable[[Sequence[str], bytes | None], int]


def main(argv: Sequence[str], fallback: Fallback) -> int:
    """Print the status line; `fallback(argv, stdin or None: not read yet)` is the full command."""
    cli = parse(argv)
    if cli is None:
        return fallback(argv, None)  # --help, a mistake, a flag this path does not know
    raw = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
    path = sqlite_path(cli)
    figures = answer(path, given(raw)) if path and os.path.isfile(path) else None
    if figures is None:
        return fallback(argv, raw)
    if cli.get("json"):
        import orjson

        print(orjson.dumps(figures).decode())
    else:
        print(statusline.line(figures))
    return 0


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """`--json`, `--data-dir D`, `--database-url U` (also `--flag=value`); None for anything else."""
    out: dict[str, Any] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        flag, eq, value = arg.partition("=")
        if arg == "--json":
            out["json"] = True
        elif flag in FLAGS and eq:
            out[FLAGS[flag]] = value
        elif arg in FLAGS and args and not args[0].startswith("-"):
            out[FLAGS[arg]] = args.pop(0)
        else:
            return None
    return out


def given(raw: bytes) -> dict[str, Any]:
    """The JSON Claude Code passed; anything else is no facts at all (a line is still printed)."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def answer(path: str, facts_given: dict[str, Any]) -> dict[str, Any] | None:
    """The figures from a read-only connection, or None when the full command must answer."""
    from anthropic_proxy.storage.migrations import MIGRATIONS

    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only=1")
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        if any(name not in done for name, _ in MIGRATIONS):
            return None  # `open` migrates it first
        return statusline.facts(_Reader(conn), facts_given)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


class _Reader:
    """`Store.fetch` on one read-only connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

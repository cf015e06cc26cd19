"""`anthropic-proxy report …` and `anthropic-proxy statusline`: read the store `serve` writes.

Both find the store exactly as `serve` does (`--data-dir` / `--database-url`, their environment
variables and `.env`), read it without writing exchanges, and work while the server runs (SQLite
in WAL mode lets readers in beside the recorder). Imports stay light: the status line runs on
every prompt Claude Code draws.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from anthropic_proxy.settings import OPTIONS, Settings, load
from anthropic_proxy.storage import Store, open_store
from anthropic_proxy.usage import report, statusline, table

COMMANDS = ("report", "statusline")
STORE_OPTIONS = ("data_dir", "database_url")


def main(argv: Sequence[str]) -> int:
    command, rest = argv[0], list(argv[1:])
    if command == "report":
        return report_command(rest)
    return statusline_command(rest)


def _store_arguments(p: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        if option.name in STORE_OPTIONS and option.flag:
            p.add_argument(option.flag, dest=option.name, default=None, help=option.help)


def _open(args: dict[str, Any]) -> Store:
    settings: Settings = load({k: args.get(k) for k in STORE_OPTIONS})
    store = open_store(settings.database_url, settings.data_path)
    store.open()
    return store


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anthropic-proxy report",
        description="Tokens and cost of the recorded exchanges, from the store `serve` writes.",
    )
    p.add_argument("kind", choices=report.KINDS, help="how to group the exchanges")
    p.add_argument("--since", help="first day (YYYY-MM-DD or YYYYMMDD, local time) or ISO time")
    p.add_argument("--until", help="last day, inclusive (YYYY-MM-DD or YYYYMMDD) or ISO time")
    p.add_argument("--by", choices=("model",), help="break every row down by model")
    p.add_argument("--project", help="only this project")
    p.add_argument("--tag", help="only exchanges carrying this tag")
    p.add_argument("--session", help="only this Claude Code session")
    p.add_argument("--model", help="only this model")
    p.add_argument("--utc", action="store_true", help="days and weeks in UTC, not local time")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    _store_arguments(p)
    return p


def report_command(argv: Sequence[str]) -> int:
    args = vars(report_parser().parse_args(argv))
    tz = UTC if args["utc"] else datetime.now().astimezone().tzinfo
    try:
        scope = report.Scope(
            since=_day(args["since"], tz, end=False),
            until=_day(args["until"], tz, end=True),
            project=args["project"],
            tag=args["tag"],
            session=args["session"],
            model=args["model"],
        )
        store = _open(args)
    except ValueError as exc:
        print(f"anthropic-proxy report: {exc}", file=sys.stderr)
        return 2
    try:
        data = report.report(store, args["kind"], scope, by_model=args["by"] == "model", tz=tz)
    finally:
        store.close()
    if args["json"]:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(table.render(data))
    return 0


def _day(text: str | None, tz: Any, end: bool) -> float | None:
    """A day's start (or, for --until, the next day's start), or an exact ISO instant."""
    if not text:
        return None
    raw = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            day = datetime.strptime(raw, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
        return (day + timedelta(days=1) if end else day).timestamp()
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).timestamp()


def statusline_command(argv: Sequence[str], raw: bytes | None = None) -> int:
    """The full command: `quickline` hands it every call it does not answer itself, with the
    stdin it already read (`raw`; None: not read yet)."""
    p = argparse.ArgumentParser(
        prog="anthropic-proxy statusline",
        description="One status line for Claude Code's statusLine setting; reads its JSON on stdin.",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    _store_arguments(p)
    args = vars(p.parse_args(argv))
    if raw is None:
        raw = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
    try:
        given = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        given = {}
    if not isinstance(given, dict):
        given = {}
    try:
        store = _open(args)
    except Exception as exc:  # a status line must print something, never a traceback
        print(f"anthropic-proxy: {exc}")
        return 0
    try:
        figures = statusline.facts(store, given)
    finally:
        store.close()
    if args["json"]:
        print(orjson.dumps(figures).decode())
    else:
        print(statusline.line(figures))
    return 0

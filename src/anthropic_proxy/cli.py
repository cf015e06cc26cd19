"""Command line: `anthropic-proxy [serve] [options]`, `anthropic-proxy settings`, and the usage
commands `report` and `statusline` (`usage.commands`; the server's modules load only for `serve`,
so the status line starts fast)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

import orjson

from anthropic_proxy import __version__
from anthropic_proxy.logs import configure_logging
from anthropic_proxy.settings import Settings, add_arguments, load, markdown_table

log = logging.getLogger("anthropic_proxy")
SWITCH_INTERVAL_S = 0.001


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anthropic-proxy",
        description="Record (or translate) every Anthropic API call. Point Claude Code at it with "
        "ANTHROPIC_BASE_URL=http://127.0.0.1:8082",
    )
    p.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=("serve", "settings", "report", "statusline"),
        help="serve (default); settings; report KIND (see `report --help`); statusline",
    )
    p.add_argument("--version", action="version", version=f"anthropic-proxy {__version__}")
    p.add_argument("--table", action="store_true", help="with `settings`: print the settings table")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("report", "statusline"):
        from anthropic_proxy.usage import commands

        return commands.main(argv)
    args = vars(parser().parse_args(argv))
    command, table = args.pop("command"), args.pop("table")
    if table:
        print(markdown_table())
        return 0
    try:
        settings = load(args)
    except ValueError as exc:
        print(f"anthropic-proxy: {exc}", file=sys.stderr)
        return 2
    if command == "settings":
        print(orjson.dumps(settings.masked(), option=orjson.OPT_INDENT_2).decode())
        return 0
    problem = refuse_reason(settings)
    if problem:
        print(f"anthropic-proxy: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    _install_uvloop()
    asyncio.run(serve(settings))
    return 0


def refuse_reason(settings: Settings) -> str | None:
    if settings.mode not in {"", "anthropic", "openrouter"}:
        return f"--mode must be anthropic or openrouter, not {settings.mode!r}"
    if not settings.is_loopback and not settings.auth_token:
        return (
            f"refusing to listen on {settings.host} without an access token: every prompt would be "
            "readable from the network. Set --auth-token (or ANTHROPIC_PROXY_AUTH_TOKEN), or bind 127.0.0.1."
        )
    return None


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve(settings: Settings) -> None:
    # Dashboard queries (and the recorder, when it is a thread) share the GIL with the event
    # loop: a short switch interval bounds how long a request waits for them after each syscall
    # (the 5 ms default shows in p50).
    from aiohttp import web

    from anthropic_proxy.app import create_app

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    runner = web.AppRunner(create_app(settings), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=2048)
    await site.start()
    log.info(
        "anthropic-proxy %s listening on http://%s:%d (dashboard /monitor, data %s)",
        __version__,
        settings.host,
        settings.port,
        settings.data_path,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()

"""Command line: `anthropic-proxy [serve] [options]`, `anthropic-proxy settings`, and the usage
commands `report` and `statusline` (`usage.commands`). The server's modules load only for `serve`,
and nothing at the top of this module beyond `sys`: the status line Claude Code runs on every
prompt takes its own short path (`usage.quickline`) and starts fast.

A mistake at start-up (a bad value, a busy port, a missing driver) is one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from anthropic_proxy import __version__

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from aiohttp import web

    from anthropic_proxy.settings import Settings

SWITCH_INTERVAL_S = 0.001
COMMANDS = {
    "serve": "run the proxy (the default when no command is given)",
    "settings": "print the effective settings as JSON, secrets masked (--table: as the README's table)",
    "report": "usage report: daily|weekly|monthly|session|project|tag|blocks (see report --help)",
    "statusline": "one status line for Claude Code's statusLine setting (reads its JSON on stdin)",
}
USAGE_COMMANDS = ("report", "statusline")
EXAMPLES = """\
examples:
  anthropic-proxy --port 8083 --max-db-size 2GB
      record every exchange, keep the store under 2 GB; then: ANTHROPIC_BASE_URL=http://127.0.0.1:8083 claude
  PROXY_MODE=openrouter OPENROUTER_API_KEY=sk-or-... anthropic-proxy
      translate Claude Code's requests to OpenRouter; map models on http://127.0.0.1:8082/config
"""


class StartupError(Exception):
    """A start-up failure the user can fix; its message is the one line they see."""


def parser(command: str = "serve") -> argparse.ArgumentParser:
    import argparse

    from anthropic_proxy.settings import add_arguments, environment_only

    commands = "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="anthropic-proxy" if command == "serve" else f"anthropic-proxy {command}",
        usage="%(prog)s [serve|settings|report|statusline] [options]"
        if command == "serve"
        else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Record (or translate) every Anthropic API call. Point Claude Code at it with "
        "ANTHROPIC_BASE_URL=http://127.0.0.1:8082\n\ncommands (`anthropic-proxy COMMAND --help`):\n"
        + commands,
        epilog=f"set only through the environment (or .env):\n{environment_only()}\n\n{EXAMPLES}",
    )
    p.add_argument("--version", action="version", version=f"anthropic-proxy {__version__}")
    if command == "settings":
        p.add_argument("--table", action="store_true", help="print the settings table as Markdown")
    add_arguments(p)
    return p


def split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """`serve` is the default command: `anthropic-proxy --port 9000` serves."""
    if argv and argv[0] in COMMANDS:
        return argv[0], list(argv[1:])
    return "serve", list(argv)


def main(argv: Sequence[str] | None = None) -> int:
    command, rest = split_command(sys.argv[1:] if argv is None else argv)
    if command == "statusline":
        from anthropic_proxy.usage import quickline

        return quickline.main(rest, _full_statusline)
    if command in USAGE_COMMANDS:
        from anthropic_proxy.usage import commands

        return commands.main([command, *rest])
    import orjson

    from anthropic_proxy.settings import load, markdown_table

    args = vars(parser(command).parse_args(rest))
    if args.pop("table", False):
        print(markdown_table())
        return 0
    try:
        settings = load(args)
    except ValueError as exc:
        return _fail(str(exc))
    if command == "settings":
        print(orjson.dumps(settings.masked(), option=orjson.OPT_INDENT_2).decode())
        return 0
    problem = refuse_reason(settings)
    if problem:
        return _fail(problem)
    import asyncio  # here, not at the top: `statusline` must start fast

    from anthropic_proxy.logs import configure_logging

    configure_logging(settings.log_level)
    _install_uvloop()
    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        return _fail(str(exc), status=1)
    return 0


def _full_statusline(argv: Sequence[str], raw: bytes | None) -> int:
    from anthropic_proxy.usage import commands

    return commands.statusline_command(argv, raw)


def _fail(message: str, status: int = 2) -> int:
    print(f"anthropic-proxy: {message}", file=sys.stderr)
    return status


def refuse_reason(settings: Settings) -> str | None:
    if not settings.is_loopback and not settings.auth_token:
        return (
            f"refusing to listen on {settings.host} without an access token: every prompt would be "
            "readable from the network. Set --auth-token (or ANTHROPIC_PROXY_AUTH_TOKEN), or bind 127.0.0.1."
        )
    return bad_upstream(settings) or missing_driver(settings)


def bad_upstream(settings: Settings) -> str | None:
    """`--upstream URL1,URL2`: each must be an http(s) URL (a failover chain, in order)."""
    from anthropic_proxy.routing.load import check_url
    from anthropic_proxy.routing.preset import upstream_urls

    for url in upstream_urls(settings.upstream_url):
        _, problem = check_url(url)
        if problem:
            return f"--upstream / ANTHROPIC_UPSTREAM_URL: {url!r} {problem} (a comma-separated failover chain)"
    return None


def missing_driver(settings: Settings) -> str | None:
    """A PostgreSQL URL without psycopg: the exact command that installs it here."""
    if not settings.database_url.startswith(("postgres://", "postgresql://")):
        return None
    import importlib.util

    if importlib.util.find_spec("psycopg") and importlib.util.find_spec("psycopg_pool"):
        return None
    return (
        "DATABASE_URL is PostgreSQL but its driver is not installed; install it with: "
        f"{sys.executable} -m pip install 'psycopg[binary]>=3.2' 'psycopg-pool>=3.2' "
        "(in a clone of the repository: .venv/bin/pip install '.[postgres]')"
    )


def _install_uvloop() -> None:
    import asyncio
    import contextlib

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def serve(settings: Settings) -> None:
    # Dashboard queries (and the recorder, when it is a thread) share the GIL with the event
    # loop: a short switch interval bounds how long a request waits for them after each syscall
    # (the 5 ms default shows in p50).
    import asyncio
    import gc
    import signal

    from anthropic_proxy.app import create_app
    from anthropic_proxy.banner import goodbye, welcome
    from anthropic_proxy.framework import runner as make_runner
    from anthropic_proxy.state import STATE

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = create_app(settings)
    runner = make_runner(app)
    await runner.setup()
    # What start-up made (modules, tables, the app) lives as long as the process: frozen, a
    # full collection no longer walks it. Unfrozen, each took ~18-25 ms on this VM under load,
    # about once a second: a stall of every stream in flight (bench/README.md, "GC pauses").
    gc.freeze()
    try:
        await _listen(runner, settings)
    except BaseException:
        await runner.cleanup()  # stops the recorder and closes the client session cleanly
        raise
    print(welcome(settings, app[STATE]), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("anthropic-proxy: stopping (finishing open requests and recording)", file=sys.stderr)
    await runner.cleanup()
    print(goodbye(app[STATE]), file=sys.stderr, flush=True)


async def _listen(runner: web.AppRunner, settings: Settings) -> None:
    import errno

    from aiohttp import web

    site = web.TCPSite(runner, settings.host, settings.port, backlog=2048)
    try:
        await site.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {settings.port} is in use on {settings.host}; "
                "pass --port or stop the other process"
            ) from None
        raise StartupError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None

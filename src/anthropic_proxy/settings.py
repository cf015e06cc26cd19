"""Process settings: one declarative table, read once, passed down.

Precedence: CLI flag > environment > `.env` file > default. This is the only module that reads
the environment (with `locate`, which finds the store the same way for the status line). Live-editable settings (mode, model mapping) live in `config.store` instead.
(~420 lines, most of them the declaration of each setting: the table is the point.)
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from platformdirs import user_data_dir

from anthropic_proxy.locate import read_env_file

MODES: Final = ("anthropic", "openrouter")
"""Pass-through to Anthropic, or translation to an OpenAI-compatible backend."""
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_size(text: str) -> int:
    """'2GB', '2 GiB', '2g', '512kb' -> bytes; a bare number is bytes.

    Every prefix is binary, as in nginx, Docker and PostgreSQL: K, KB and KiB all mean 1024.
    """
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 512KB, 32MB, 2GB, 1TiB)")
    number, unit = match.groups()
    return int(float(number) * SIZE_UNITS[unit.lower()])


def parse_age(text: str) -> int:
    """'30d' -> seconds; a bare number is seconds."""
    raw = text.strip().lower()
    if raw[-1:] in AGE_UNITS:
        return int(float(raw[:-1]) * AGE_UNITS[raw[-1]])
    return int(float(raw))


def parse_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def parse_mode(text: str) -> str:
    """One of MODES, or empty (keep config.json's)."""
    mode = text.strip().lower()
    if mode and mode not in MODES:
        raise ValueError(f"must be {' or '.join(MODES)}")
    return mode


@dataclass(frozen=True)
class Option:
    name: str
    env: tuple[str, ...]
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    flag: str | None = None
    secret: bool = False


def option(
    env: tuple[str, ...],
    default: Any,
    help: str,
    parse: Callable[[str], Any] = str,
    flag: str | None = None,
    secret: bool = False,
) -> Any:
    """A Settings field's sources, default and help; `load` fills every field (no default here,
    so a Settings is never half-built)."""
    return field(metadata={"option": Option("", env, default, help, parse, flag, secret)})


DEFAULT_UPSTREAM = "https://api.anthropic.com"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Settings:
    """Effective values. Each field declares its sources, default and help once (`option`);
    OPTIONS is derived from these fields."""

    host: str = option(
        ("HOST",),
        "127.0.0.1",
        "address to bind; non-loopback needs --auth-token",
        flag="--host",
    )
    port: int = option(("PORT",), 8082, "port to listen on", int, "--port")
    data_dir: str = option(
        ("ANTHROPIC_PROXY_DATA_DIR",),
        "",
        "where the SQLite store and config.json live",
        flag="--data-dir",
    )
    log_level: str = option(
        ("LOG_LEVEL",),
        "INFO",
        "DEBUG, INFO, WARNING or ERROR",
        str.upper,
        "--log-level",
    )
    mode: str = option(
        ("PROXY_MODE",),
        "",
        "anthropic (pass-through) or openrouter (translation); empty keeps config.json",
        parse_mode,
        "--mode",
    )
    upstream_url: str = option(
        ("ANTHROPIC_UPSTREAM_URL",),
        "",
        "Anthropic API base URL; URL1,URL2 is a failover chain (default https://api.anthropic.com)",
        flag="--upstream",
    )
    legacy_base_url: str = option(
        ("ANTHROPIC_BASE_URL",),
        "",
        "seed compatibility: used as upstream unless it points at this proxy",
    )
    request_timeout_ms: int = option(
        ("REQUEST_TIMEOUT",),
        600_000,
        "idle-read timeout towards the upstream, ms",
        int,
        "--request-timeout",
    )
    connect_timeout_ms: int = option(
        ("CONNECT_TIMEOUT",),
        10_000,
        "connect timeout towards the upstream, ms",
        int,
    )
    max_body_bytes: int = option(
        ("MAX_BODY_SIZE",),
        "32MB",
        "largest accepted request body (413 above)",
        parse_size,
        "--max-body-size",
    )
    database_url: str = option(
        ("DATABASE_URL",),
        "",
        "sqlite:///path or postgresql://...; default SQLite in the data dir",
        flag="--database-url",
    )
    max_records: int = option(
        ("MAX_RECORDS",),
        0,
        "keep at most this many exchanges (0 = no limit)",
        int,
        "--max-records",
    )
    max_age_s: int = option(
        ("MAX_AGE",),
        0,
        "drop exchanges older than this (e.g. 30d; 0 = keep)",
        parse_age,
        "--max-age",
    )
    max_db_bytes: int = option(
        ("MAX_DB_SIZE",),
        0,
        "prune oldest exchanges above this store size (e.g. 2GB; 0 = no limit)",
        parse_size,
        "--max-db-size",
    )
    record_queue_size: int = option(
        ("RECORD_QUEUE_SIZE",),
        0,
        "exchanges the recorder may fall behind by (0 = no limit: the journal on disk is the "
        "backlog); beyond it records are dropped, counted and shown",
        int,
    )
    record_queue_bytes: int = option(
        ("RECORD_QUEUE_BYTES",),
        "4GB",
        "journal backlog on disk the recorder may fall behind by; beyond it (or with under "
        "512 MB free) records are dropped, counted and shown",
        parse_size,
    )
    recorder_process: bool = option(
        ("RECORDER_PROCESS",),
        True,
        "record in a separate low-priority process (false: a thread sharing the proxy's GIL)",
        parse_bool,
    )
    scrub_secrets: bool = option(
        ("SCRUB_SECRETS",),
        True,
        "redact well-known secret formats in stored bodies",
        parse_bool,
    )
    auth_token: str = option(
        ("ANTHROPIC_PROXY_AUTH_TOKEN",),
        "",
        "token required for /monitor, /config and /api when bound off loopback",
        flag="--auth-token",
        secret=True,
    )
    allowed_hosts: str = option(
        ("ALLOWED_HOSTS",),
        "",
        "extra Host header values accepted (comma separated)",
        flag="--allowed-hosts",
    )
    openrouter_api_key: str = option(
        ("OPENROUTER_API_KEY",),
        "",
        "key for the translation backend",
        secret=True,
    )
    openrouter_base_url: str = option(
        ("OPENROUTER_BASE_URL",),
        "",
        "translation backend base URL (default https://openrouter.ai/api)",
    )
    openrouter_default_model: str = option(
        ("OPENROUTER_DEFAULT_MODEL",),
        "",
        "backend model for unknown families",
    )
    http_referer: str = option(
        ("HTTP_REFERER",),
        "https://github.com/anthropic-proxy/anthropic-proxy",
        "OpenRouter attribution",
    )
    x_title: str = option(("X_TITLE",), "anthropic-proxy", "OpenRouter attribution")
    budget_daily_usd: float = option(
        ("BUDGET_DAILY_USD",),
        0.0,
        "daily cost budget for the whole proxy, USD (UTC days; 0 = none)",
        float,
        "--budget-daily",
    )
    budget_monthly_usd: float = option(
        ("BUDGET_MONTHLY_USD",),
        0.0,
        "monthly cost budget for the whole proxy, USD (UTC months; 0 = none)",
        float,
        "--budget-monthly",
    )
    session_budget_daily_usd: float = option(
        ("SESSION_BUDGET_DAILY_USD",),
        0.0,
        "daily cost budget per Claude Code session, USD (0 = none)",
        float,
    )
    session_budget_monthly_usd: float = option(
        ("SESSION_BUDGET_MONTHLY_USD",),
        0.0,
        "monthly cost budget per Claude Code session, USD (0 = none)",
        float,
    )
    budget_webhook_url: str = option(
        ("BUDGET_WEBHOOK_URL",),
        "",
        "POSTed a JSON alert once per budget and period when a budget is crossed",
        flag="--budget-webhook",
        secret=True,
    )
    otel_endpoint: str = option(
        ("ANTHROPIC_PROXY_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        "",
        "OTLP/HTTP base URL: one span per exchange (needs the [otel] extra; empty = off)",
        flag="--otel-endpoint",
    )
    otel_service_name: str = option(
        ("OTEL_SERVICE_NAME",),
        "anthropic-proxy",
        "service.name of the exported spans",
    )

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or user_data_dir("anthropic-proxy"))

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    def masked(self) -> dict[str, Any]:
        """Effective values, secrets masked: for `anthropic-proxy settings` and /api/monitor/config."""
        from anthropic_proxy.masking import mask_value

        secret = {o.name for o in OPTIONS if o.secret}
        return {
            f.name: mask_value(getattr(self, f.name))
            if f.name in secret and getattr(self, f.name)
            else getattr(self, f.name)
            for f in fields(self)
        }


OPTIONS: tuple[Option, ...] = tuple(
    replace(f.metadata["option"], name=f.name) for f in fields(Settings)
)
"""The settings table, in declaration order: flags, --help, the README table, `load`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option that has one; its help names the environment variable and default."""
    for option in OPTIONS:
        if option.flag:
            parser.add_argument(
                option.flag,
                dest=option.name,
                default=None,
                metavar=option.env[0],
                help=f"{option.help} [{_sources(option)}]",
            )


def environment_only() -> str:
    """The options set only through the environment, for the end of `--help`."""
    width = max(len(o.env[0]) for o in OPTIONS if not o.flag)
    return "\n".join(
        f"  {o.env[0]:<{width}}  {o.help} [default: {_shown_default(o)}]"
        for o in OPTIONS
        if not o.flag
    )


def _sources(option: Option) -> str:
    return f"env {', '.join(option.env)}; default: {_shown_default(option)}"


def _shown_default(option: Option) -> str:
    if option.name == "data_dir":
        return user_data_dir("anthropic-proxy")
    if option.default in ("", 0) or option.secret:
        return "unset"
    return str(option.default).lower() if isinstance(option.default, bool) else str(option.default)


def load(
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
) -> Settings:
    """Build Settings from the layers; each source string goes through the option's parser."""
    env = dict(os.environ if environ is None else environ)
    dotenv = read_env_file(env_file or Path(".env"))
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = _first(option, cli or {}, env, dotenv)
        values[option.name] = _parse(option, option.default if raw is None else raw)
    return Settings(**values)


def _first(option: Option, cli: Mapping[str, Any], *layers: Mapping[str, str]) -> Any:
    if cli.get(option.name) is not None:
        return cli[option.name]
    for layer in layers:
        for name in option.env:
            if layer.get(name):
                return layer[name]
    return None


def _parse(option: Option, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return option.parse(raw)
    except (ValueError, KeyError) as exc:
        raise ValueError(
            f"invalid value for {option.name} ({'/'.join(option.env)}): {raw!r} ({exc})"
        ) from exc


def markdown_table() -> str:
    """The README's settings table, generated from OPTIONS (a test keeps the README in sync)."""
    rows = ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for o in OPTIONS:
        default = "" if o.secret or o.default in ("", 0) else str(o.default)
        flag = f"`{o.flag}`" if o.flag else ""
        env = ", ".join(f"`{e}`" for e in o.env)
        rows.append(f"| {flag} | {env} | {default} | {o.help} |")
    return "\n".join(rows)


def env_values(names: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values of the named environment variables (the process environment, then `.env`):
    provider key pools name their keys' variables, never the keys."""
    env = os.environ if environ is None else environ
    wanted = [name for name in names if name]
    missing = [name for name in wanted if not env.get(name)]
    dotenv = read_env_file(Path(".env")) if missing else {}
    return {name: env.get(name) or dotenv.get(name, "") for name in wanted}


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine."""
    name = host.strip("[]").lower()
    return name in LOOPBACK_NAMES or name.startswith("127.")

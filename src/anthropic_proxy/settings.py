"""Process settings: one declarative table, read once, passed down.

Precedence: CLI flag > environment > `.env` file > default. This is the only module that reads
the environment. Live-editable settings (mode, model mapping) live in `config.store` instead.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

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


@dataclass(frozen=True)
class Option:
    name: str
    env: tuple[str, ...]
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    flag: str | None = None
    secret: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "host",
        ("HOST",),
        "127.0.0.1",
        "address to bind; non-loopback needs --auth-token",
        flag="--host",
    ),
    Option("port", ("PORT",), 8082, "port to listen on", int, "--port"),
    Option(
        "data_dir",
        ("ANTHROPIC_PROXY_DATA_DIR",),
        "",
        "where the SQLite store and config.json live",
        flag="--data-dir",
    ),
    Option(
        "log_level",
        ("LOG_LEVEL",),
        "INFO",
        "DEBUG, INFO, WARNING or ERROR",
        str.upper,
        "--log-level",
    ),
    Option(
        "mode",
        ("PROXY_MODE",),
        "",
        "anthropic (pass-through) or openrouter (translation); empty keeps config.json",
        flag="--mode",
    ),
    Option(
        "upstream_url",
        ("ANTHROPIC_UPSTREAM_URL",),
        "",
        "Anthropic API base URL (default https://api.anthropic.com)",
        flag="--upstream",
    ),
    Option(
        "legacy_base_url",
        ("ANTHROPIC_BASE_URL",),
        "",
        "seed compatibility: used as upstream unless it points at this proxy",
    ),
    Option(
        "request_timeout_ms",
        ("REQUEST_TIMEOUT",),
        600_000,
        "idle-read timeout towards the upstream, ms",
        int,
        "--request-timeout",
    ),
    Option(
        "connect_timeout_ms",
        ("CONNECT_TIMEOUT",),
        10_000,
        "connect timeout towards the upstream, ms",
        int,
    ),
    Option(
        "max_body_bytes",
        ("MAX_BODY_SIZE",),
        "32MB",
        "largest accepted request body (413 above)",
        parse_size,
        "--max-body-size",
    ),
    Option(
        "database_url",
        ("DATABASE_URL",),
        "",
        "sqlite:///path or postgresql://...; default SQLite in the data dir",
        flag="--database-url",
    ),
    Option(
        "max_records",
        ("MAX_RECORDS",),
        0,
        "keep at most this many exchanges (0 = no limit)",
        int,
        "--max-records",
    ),
    Option(
        "max_age_s",
        ("MAX_AGE",),
        0,
        "drop exchanges older than this (e.g. 30d; 0 = keep)",
        parse_age,
        "--max-age",
    ),
    Option(
        "max_db_bytes",
        ("MAX_DB_SIZE",),
        0,
        "prune oldest exchanges above this store size (e.g. 2GB; 0 = no limit)",
        parse_size,
        "--max-db-size",
    ),
    Option(
        "record_queue_size",
        ("RECORD_QUEUE_SIZE",),
        10_000,
        "exchanges the recorder may fall behind by; beyond it records are dropped and counted",
        int,
    ),
    Option(
        "record_queue_bytes",
        ("RECORD_QUEUE_BYTES",),
        "128MB",
        "journal backlog the recorder may fall behind by; beyond it records are dropped and counted",
        parse_size,
    ),
    Option(
        "recorder_process",
        ("RECORDER_PROCESS",),
        True,
        "record in a separate low-priority process (false: a thread sharing the proxy's GIL)",
        parse_bool,
    ),
    Option(
        "scrub_secrets",
        ("SCRUB_SECRETS",),
        True,
        "redact well-known secret formats in stored bodies",
        parse_bool,
    ),
    Option(
        "auth_token",
        ("ANTHROPIC_PROXY_AUTH_TOKEN",),
        "",
        "token required for /monitor, /config and /api when bound off loopback",
        flag="--auth-token",
        secret=True,
    ),
    Option(
        "allowed_hosts",
        ("ALLOWED_HOSTS",),
        "",
        "extra Host header values accepted (comma separated)",
        flag="--allowed-hosts",
    ),
    Option(
        "openrouter_api_key",
        ("OPENROUTER_API_KEY",),
        "",
        "key for the translation backend",
        secret=True,
    ),
    Option(
        "openrouter_base_url",
        ("OPENROUTER_BASE_URL",),
        "",
        "translation backend base URL (default https://openrouter.ai/api)",
    ),
    Option(
        "openrouter_default_model",
        ("OPENROUTER_DEFAULT_MODEL",),
        "",
        "backend model for unknown families",
    ),
    Option(
        "http_referer",
        ("HTTP_REFERER",),
        "https://github.com/anthropic-proxy/anthropic-proxy",
        "OpenRouter attribution",
    ),
    Option("x_title", ("X_TITLE",), "anthropic-proxy", "OpenRouter attribution"),
    Option(
        "budget_daily_usd",
        ("BUDGET_DAILY_USD",),
        0.0,
        "daily cost budget for the whole proxy, USD (UTC days; 0 = none)",
        float,
        "--budget-daily",
    ),
    Option(
        "budget_monthly_usd",
        ("BUDGET_MONTHLY_USD",),
        0.0,
        "monthly cost budget for the whole proxy, USD (UTC months; 0 = none)",
        float,
        "--budget-monthly",
    ),
    Option(
        "session_budget_daily_usd",
        ("SESSION_BUDGET_DAILY_USD",),
        0.0,
        "daily cost budget per Claude Code session, USD (0 = none)",
        float,
    ),
    Option(
        "session_budget_monthly_usd",
        ("SESSION_BUDGET_MONTHLY_USD",),
        0.0,
        "monthly cost budget per Claude Code session, USD (0 = none)",
        float,
    ),
    Option(
        "budget_webhook_url",
        ("BUDGET_WEBHOOK_URL",),
        "",
        "POSTed a JSON alert once per budget and period when a budget is crossed",
        flag="--budget-webhook",
        secret=True,
    ),
    Option(
        "otel_endpoint",
        ("ANTHROPIC_PROXY_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        "",
        "OTLP/HTTP base URL: one span per exchange (needs the [otel] extra; empty = off)",
        flag="--otel-endpoint",
    ),
    Option(
        "otel_service_name",
        ("OTEL_SERVICE_NAME",),
        "anthropic-proxy",
        "service.name of the exported spans",
    ),
)

DEFAULT_UPSTREAM = "https://api.anthropic.com"


@dataclass(frozen=True)
class Settings:
    """Effective values; the defaults live only in OPTIONS (`load` fills every field)."""

    host: str
    port: int
    data_dir: str
    log_level: str
    mode: str
    upstream_url: str
    legacy_base_url: str
    request_timeout_ms: int
    connect_timeout_ms: int
    max_body_bytes: int
    database_url: str
    max_records: int
    max_age_s: int
    max_db_bytes: int
    record_queue_size: int
    record_queue_bytes: int
    recorder_process: bool
    scrub_secrets: bool
    auth_token: str
    allowed_hosts: str
    openrouter_api_key: str
    openrouter_base_url: str
    openrouter_default_model: str
    http_referer: str
    x_title: str
    budget_daily_usd: float
    budget_monthly_usd: float
    session_budget_daily_usd: float
    session_budget_monthly_usd: float
    budget_webhook_url: str
    otel_endpoint: str
    otel_service_name: str

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or user_data_dir("anthropic-proxy"))

    @property
    def is_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")

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


def read_env_file(path: Path) -> dict[str, str]:
    """A minimal `.env` reader: KEY=VALUE lines, optional quotes, # comments."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


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
            f"invalid value for {option.name} ({'/'.join(option.env)}): {raw!r}"
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

"""Where the store is, found without the settings table: `.env` reading for `settings`, and
the two store options read exactly as `settings.load` + `storage.open_store` read them, for
`anthropic-proxy statusline` (Claude Code runs it on every prompt; `settings` imports
dataclasses and platformdirs, ~20 ms). Beside `settings`, the only module that reads the
environment, and only those two options (a test keeps both in step with `settings`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

APP = "anthropic-proxy"
STORE_ENV = {"data_dir": "ANTHROPIC_PROXY_DATA_DIR", "database_url": "DATABASE_URL"}
"""The store options' environment variables, as declared in `settings.Settings`."""


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """A minimal `.env` reader: KEY=VALUE lines, optional quotes, # comments."""
    if not os.path.isfile(path):
        return {}
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as file:
        text = file.read()
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def sqlite_path(
    cli: Mapping[str, str | None], environ: Mapping[str, str] | None = None, env_file: str = ".env"
) -> str | None:
    """The SQLite file `serve` uses with these flags: flag, then environment, then `.env`, then
    the default data dir. None when the store is PostgreSQL."""
    env = os.environ if environ is None else environ
    dotenv: dict[str, str] | None = None

    def setting(name: str) -> str:
        nonlocal dotenv
        given = cli.get(name)
        if given is not None:
            return given
        if env.get(STORE_ENV[name]):
            return env[STORE_ENV[name]]
        if dotenv is None:
            dotenv = read_env_file(env_file)
        return dotenv.get(STORE_ENV[name]) or ""

    url = setting("database_url")
    if url.startswith(("postgres://", "postgresql://")):
        return None
    if url:
        return url.removeprefix("sqlite:///")
    return os.path.join(setting("data_dir") or default_data_dir(env), "exchanges.db")


def default_data_dir(environ: Mapping[str, str]) -> str:
    """platformdirs' `user_data_dir("anthropic-proxy")` (what `settings` uses): on Linux the XDG
    rule without importing it (a test checks the two agree), elsewhere platformdirs itself."""
    if sys.platform == "linux" and "ANDROID_DATA" not in environ:
        xdg = environ.get("XDG_DATA_HOME", "")
        if xdg.startswith("/"):
            return os.path.join(xdg, APP)
        home = environ.get("HOME", "")
        if home.startswith("/"):
            return f"{home.rstrip('/')}/.local/share/{APP}"
    from platformdirs import user_data_dir

    return user_data_dir(APP)

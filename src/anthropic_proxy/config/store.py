"""The live-editable runtime config (`config/runtime.py`), persisted to `config.json` in the
seed's JSON shape.

Editable: `proxyMode`, `openrouter.{baseUrl, defaultModel, modelMapping, modelRules}`,
`headers.{httpReferer, title}`. `server`, `monitoring` and `anthropic` are shown, read-only: they
come from CLI flags and the environment and need a restart. Secrets are never stored or returned.

At start (and on reload) the file is read, then the operator's environment wins where it is set:
`PROXY_MODE`/`--mode`, `OPENROUTER_BASE_URL`, `OPENROUTER_DEFAULT_MODEL`.

The backend key (`OPENROUTER_API_KEY`) is sent only to the host the operator chose: the origin of
`OPENROUTER_BASE_URL`, or openrouter.ai when it is unset. A base URL changed through the API to
any other host gets no key, so the config API cannot be used to send the key elsewhere; to use
another backend with the key, the operator sets `OPENROUTER_BASE_URL`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

import orjson

from anthropic_proxy.config import destinations, runtime
from anthropic_proxy.config.runtime import EDITABLE, Attribution, Backend, RuntimeConfig
from anthropic_proxy.config.validate import ConfigError, validate
from anthropic_proxy.routing import load, preset
from anthropic_proxy.routing.model import Provider, Routing
from anthropic_proxy.settings import DEFAULT_UPSTREAM, Settings
from anthropic_proxy.translate.models import ModelMapping
from anthropic_proxy.wire import JSON

log = logging.getLogger("anthropic_proxy.config")
Listener = Callable[[RuntimeConfig], None]
DEFAULT_BASE_URL: Final = "https://openrouter.ai/api"
SEED_MAPPING: Final = MappingProxyType(
    {
        "sonnet": "anthropic/claude-sonnet-4.6",
        "opus": "anthropic/claude-opus-4.6",
        "haiku": "anthropic/claude-haiku-4.5",
    }
)
_DEFAULT_PORTS: Final = MappingProxyType({"http": 80, "https": 443})

__all__ = ["EDITABLE", "ConfigError", "ConfigStore", "DestinationLocked", "RuntimeConfig"]


class DestinationLocked(ConfigError):
    """A patch that would move traffic, from a request without the operator's token."""


class ConfigStore:
    """The runtime config; `update`, `reset` and `reload` notify subscribers on change."""

    def __init__(
        self, path: Path, settings: Settings, upstreams: tuple[str, ...] = (DEFAULT_UPSTREAM,)
    ) -> None:
        self.path = path
        self.settings = settings
        self.upstreams = upstreams
        """The seed's Anthropic upstreams (`--upstream URL1,URL2`), set at start."""
        self._listeners: list[Listener] = []
        self._config = self._load()

    @property
    def runtime(self) -> RuntimeConfig:
        """The current config (a frozen value: changes replace it)."""
        return self._config

    @property
    def mode(self) -> str:
        return self._config.mode

    @property
    def base_url(self) -> str:
        return self._config.backend.base_url

    @property
    def attribution(self) -> Attribution:
        return self._config.attribution

    def mapping(self) -> ModelMapping:
        return self._config.backend.mapping

    def seed_providers(self) -> dict[str, Provider]:
        return preset.seed_providers(self.upstreams, self.base_url)

    def routing(self) -> Routing:
        """The effective routing: configured routes over seed + configured providers, or the
        seed's `proxyMode` as a preset."""
        configured = _parse_routing(self._config, self.seed_providers())
        return preset.build(self.mode, self.upstreams, self.base_url, configured)

    def backend_key(self, url: str) -> str:
        """The operator's key, if `url` is on the host the operator trusted with it."""
        key = self.settings.openrouter_api_key
        trusted = self.settings.openrouter_base_url or DEFAULT_BASE_URL
        return key if key and _origin(url) == _origin(trusted) else ""

    def current(self) -> JSON:
        """The whole config as the API shows it: editable values plus read-only facts."""
        data = self._config.to_json()
        key_sent = bool(self.backend_key(self.base_url + "/v1/chat/completions"))
        data["openrouter"]["apiKeyConfigured"] = bool(self.settings.openrouter_api_key)
        data["openrouter"]["apiKeySentToBaseUrl"] = key_sent
        return {**data, **self._read_only()}

    def update(self, patch: object, *, redirect_allowed: bool) -> JSON:
        """Validate and deep-merge a partial config; raises ConfigError with per-field messages.

        `redirect_allowed` is `destinations.redirect_allowed(request)` for an HTTP request: without
        it a patch that moves a base URL is refused (DestinationLocked) and nothing changes.
        """
        merged = validate(patch, self._config, self._read_only())
        moved = destinations.changed(self._config, merged)
        if moved and not redirect_allowed:
            raise DestinationLocked({name: destinations.HOW_TO_CHANGE for name in moved})
        _check_routing(merged, preset.seed_providers(self.upstreams, merged.backend.base_url))
        self._replace(merged, persist=True)
        return self.current()

    def reset(self, *, redirect_allowed: bool) -> JSON:
        """Back to the start-up defaults; base URLs stay unless the operator asked."""
        defaults = self._defaults()
        if not redirect_allowed:
            defaults = destinations.keep(self._config, defaults)
        self._replace(defaults, persist=True)
        return self.current()

    def reload(self) -> JSON:
        """Re-read `config.json` (after a hand edit), with the same precedence as at start."""
        self._replace(self._load(), persist=False)
        return self.current()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _replace(self, config: RuntimeConfig, persist: bool) -> None:
        changed = config != self._config
        self._config = config
        if persist:
            _write_atomic(self.path, config.to_json())
        if changed:
            for listener in list(self._listeners):
                listener(config)

    def _defaults(self) -> RuntimeConfig:
        s = self.settings
        return RuntimeConfig(
            mode=s.mode or "anthropic",
            backend=Backend(
                base_url=(s.openrouter_base_url or DEFAULT_BASE_URL).rstrip("/"),
                mapping=ModelMapping(
                    SEED_MAPPING, default=s.openrouter_default_model or SEED_MAPPING["sonnet"]
                ),
            ),
            attribution=Attribution(http_referer=s.http_referer, title=s.x_title),
        )

    def _load(self) -> RuntimeConfig:
        """The defaults, then `config.json`, then the operator's environment where it is set."""
        config = self._defaults()
        stored = _read(self.path)
        if stored:
            config = _lenient_merge(config, stored, self._read_only(), self.upstreams)
        s = self.settings
        overrides = {
            "proxyMode": s.mode,
            "openrouter.baseUrl": s.openrouter_base_url.rstrip("/"),
            "openrouter.defaultModel": s.openrouter_default_model,
        }
        for name, value in overrides.items():
            if value:
                config = runtime.with_value(config, name, value)
        return config

    def _read_only(self) -> JSON:
        s = self.settings
        return {
            "destinations": destinations.describe(s.auth_token),
            "anthropic": {
                "baseUrl": self.upstreams[0],
                "upstreams": list(self.upstreams),
                "timeout": s.request_timeout_ms,
            },
            "server": {"host": s.host, "port": s.port, "logLevel": s.log_level},
            "monitoring": {
                "enabled": True,
                "maxRequests": s.max_records,
                "retentionSeconds": s.max_age_s,
            },
        }


def _lenient_merge(
    config: RuntimeConfig, stored: JSON, read_only: JSON, upstreams: tuple[str, ...]
) -> RuntimeConfig:
    """A seed file may hold an apiKey or stale fields: keep what validates, drop the rest."""
    stored = {k: v for k, v in stored.items() if k in EDITABLE}
    router = stored.get("openrouter")
    if isinstance(router, dict):
        stored["openrouter"] = {k: v for k, v in router.items() if k != "apiKey"}
    try:
        merged = validate(stored, config, read_only)
    except ConfigError as error:
        log.warning("config.json: ignoring invalid fields: %s", error)
        bad = {field.split(".")[0] for field in error.fields}
        merged = validate({k: v for k, v in stored.items() if k not in bad}, config, read_only)
    try:
        _check_routing(merged, preset.seed_providers(upstreams, merged.backend.base_url))
    except ConfigError as error:
        log.error("config.json: providers and routes ignored (%s); serving the preset", error)
        merged = dataclasses.replace(merged, providers=(), routes=())
    return merged


def _parse_routing(config: RuntimeConfig, known: dict[str, Provider]) -> Routing:
    return load.parse(list(config.providers), list(config.routes), known)


def _check_routing(config: RuntimeConfig, known: dict[str, Provider]) -> None:
    try:
        _parse_routing(config, known)
    except load.RoutingError as error:
        raise ConfigError(error.fields) from error


def _read(path: Path) -> JSON | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s; using defaults", path, exc)
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        log.warning("%s is not valid JSON (%s); using defaults", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _write_atomic(path: Path, data: JSON) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)

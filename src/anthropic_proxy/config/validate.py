"""Validation of config patches: one checker per editable field, errors reported per field.

A patch is JSON in the seed's camelCase shape (`config/runtime.py` names the fields); `validate`
merges it into the current `RuntimeConfig` and returns the new one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from anthropic_proxy.config import runtime
from anthropic_proxy.config.runtime import RuntimeConfig
from anthropic_proxy.settings import MODES
from anthropic_proxy.translate.models import SEED_FAMILIES, ModelRule
from anthropic_proxy.wire import JSON

_FAMILY: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")
_MAX_NAME: Final = 256
_MAX_RULES: Final = 100
SECRET_MESSAGE: Final = "secrets are never stored: set OPENROUTER_API_KEY in the environment"
READ_ONLY_MESSAGE: Final = (
    "read-only here: set it with a CLI flag or environment variable and restart"
)
# Facts `ConfigStore.current` adds; a client posting the whole config back sends them too.
INFO_FIELDS: Final = frozenset({"openrouter.apiKeyConfigured", "openrouter.apiKeySentToBaseUrl"})


class ConfigError(Exception):
    """A rejected patch; `fields` maps each dotted field name to what is wrong with it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


Checker = Callable[[Any, Any], tuple[Any, str | None]]
"""(new JSON value, current field value) -> (field value to keep, error message or None)."""


def _mode(value: Any, current: Any) -> tuple[Any, str | None]:
    if value in MODES:
        return value, None
    return current, f"must be one of {', '.join(MODES)}"


def _url(value: Any, current: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return current, "must be a URL string"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return current, "must be an http:// or https:// URL with a host"
    if parts.username or parts.password or parts.query or parts.fragment:
        return current, "must not contain credentials, a query or a fragment"
    return value.strip().rstrip("/"), None


def _model(value: Any, current: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_NAME:
        return value.strip(), None
    return current, f"must be a non-empty model name of at most {_MAX_NAME} characters"


def _header(value: Any, current: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and len(value) <= 500 and not re.search(r"[\r\n\x00]", value):
        return value, None
    return current, "must be a single-line string of at most 500 characters"


def _mapping(value: Any, current: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict):
        return current, "must be an object of family -> model"
    merged = dict(current)
    for family, target in value.items():
        if not isinstance(family, str) or not _FAMILY.match(family):
            return current, f"{family!r}: family names are lower-case words (a-z, 0-9, . _ -)"
        if target is None and family not in SEED_FAMILIES:
            merged.pop(family, None)
            continue
        target, error = _model(target, None)
        if error:
            return current, f"{family}: {error}"
        merged[family] = target
    return MappingProxyType(merged), None


def _rules(value: Any, current: Any) -> tuple[Any, str | None]:
    if not isinstance(value, list) or len(value) > _MAX_RULES:
        return current, f"must be a list of at most {_MAX_RULES} {{pattern, model}} objects"
    rules = []
    for number, rule in enumerate(value):
        pattern = rule.get("pattern") if isinstance(rule, dict) else None
        model, error = _model(rule.get("model") if isinstance(rule, dict) else None, None)
        if not isinstance(pattern, str) or not pattern.strip() or error:
            return current, f"rule {number}: needs a non-empty glob `pattern` and a `model`"
        rules.append(ModelRule(pattern.strip(), model))
    return tuple(rules), None


def _list(value: Any, current: Any) -> tuple[Any, str | None]:
    """`providers` and `routes`: checked in depth, together, by `routing.load` in the store."""
    if isinstance(value, list):
        return tuple(copy.deepcopy(value)), None
    return current, "must be a list"


CHECKS: Final[MappingProxyType[str, Checker]] = MappingProxyType(
    {
        "proxyMode": _mode,
        "providers": _list,
        "routes": _list,
        "openrouter.baseUrl": _url,
        "openrouter.defaultModel": _model,
        "openrouter.modelMapping": _mapping,
        "openrouter.modelRules": _rules,
        "headers.httpReferer": _header,
        "headers.title": _header,
    }
)
"""One checker for each field of `runtime.FIELDS`."""
SECTIONS: Final = frozenset({"openrouter", "headers"})


def validate(patch: object, current: RuntimeConfig, read_only: JSON) -> RuntimeConfig:
    """`current` with `patch` deep-merged in; raises ConfigError listing every bad field."""
    if not isinstance(patch, dict):
        raise ConfigError({"": "the config must be a JSON object"})
    merged = current
    errors: dict[str, str] = {}
    for name, value in _flatten(patch, read_only, errors):
        checked, error = CHECKS[name](value, runtime.get(merged, name))
        merged = runtime.with_value(merged, name, checked)
        if error:
            errors[name] = error
    if errors:
        raise ConfigError(errors)
    return merged


def _flatten(patch: JSON, read_only: JSON, errors: dict[str, str]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key in read_only:
            if value != read_only[key]:
                errors[key] = READ_ONLY_MESSAGE
        elif key in SECTIONS and isinstance(value, dict):
            out.extend(_section(key, value, errors))
        elif key in SECTIONS:
            errors[key] = "must be an object"
        elif key in CHECKS:
            out.append((key, value))
        else:
            errors[key] = "unknown field"
    return out


def _section(section: str, values: JSON, errors: dict[str, str]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{section}.{key}"
        if key == "apiKey":
            errors[name] = SECRET_MESSAGE
        elif name in CHECKS:
            out.append((name, value))
        elif name not in INFO_FIELDS:
            errors[name] = "unknown field"
    return out

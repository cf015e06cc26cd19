"""Where prompts go is the operator's decision: the one rule for changing a base URL over HTTP.

A base URL names the host that receives every prompt. Any local process can reach the config
API on loopback, so over HTTP a base URL may change only on a request that carries the
operator's access token (`ANTHROPIC_PROXY_AUTH_TOKEN`), checked by the web guard
(`security.py`), which marks the request `OPERATOR`. Without a token, the default
loopback setup, base URLs are start-up settings: flags and environment, or `config.json` edited
by hand and reloaded; `/config` shows them read-only with how to change them.

Every config field that names a destination is listed in `FIELDS`; a new one (a provider's
base URL) is added there and nowhere else.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

FIELDS: Final = ("openrouter.baseUrl", "providers")
"""Editable config fields (dotted paths) that decide where traffic goes. `providers` as a whole:
a provider's base URL, and also its key variables and extra headers (which secret goes where)."""
OPERATOR: Final = web.RequestKey("operator", bool)
"""Request key the guard sets on a request that carried the operator's access token."""
HOW_TO_CHANGE: Final = (
    "base URLs are start-up settings: set OPENROUTER_BASE_URL (translation backend) or "
    "--upstream/ANTHROPIC_UPSTREAM_URL (Anthropic) and restart, or edit config.json and reload. "
    "To change them here, start the proxy with --auth-token (ANTHROPIC_PROXY_AUTH_TOKEN)."
)


def redirect_allowed(request: web.Request) -> bool:
    """The rule: only the operator, proven by the access token, moves traffic over HTTP."""
    return request.get(OPERATOR) is True


def editable_over_http(auth_token: str) -> bool:
    """What /config shows: with a token configured every config request must carry it."""
    return bool(auth_token)


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The destination fields whose value differs between two configs."""
    return [name for name in FIELDS if _get(before, name) != _get(after, name)]


def keep(current: dict[str, Any], target: dict[str, Any]) -> None:
    """Copy `current`'s destinations into `target` (a reset that may not move traffic)."""
    for name in FIELDS:
        *path, key = name.split(".")
        _section(target, path)[key] = _get(current, name)


def _get(data: dict[str, Any], name: str) -> Any:
    *path, key = name.split(".")
    return _section(data, path).get(key)


def _section(data: dict[str, Any], path: list[str]) -> dict[str, Any]:
    for part in path:
        data = data[part]
    return data


def describe(auth_token: str) -> dict[str, Any]:
    """The read-only `destinations` block of the config API."""
    return {
        "editable": editable_over_http(auth_token),
        "fields": list(FIELDS),
        "howToChange": HOW_TO_CHANGE,
    }

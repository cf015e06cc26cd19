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

from anthropic_proxy.config import runtime
from anthropic_proxy.config.runtime import RuntimeConfig

FIELDS: Final = ("openrouter.baseUrl", "providers")
"""Editable config fields (`runtime.FIELDS` names) that decide where traffic goes. `providers` as a whole:
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


def changed(before: RuntimeConfig, after: RuntimeConfig) -> list[str]:
    """The destination fields whose value differs between two configs."""
    return [name for name in FIELDS if runtime.get(before, name) != runtime.get(after, name)]


def keep(current: RuntimeConfig, target: RuntimeConfig) -> RuntimeConfig:
    """`target` with `current`'s destinations (a reset that may not move traffic)."""
    for name in FIELDS:
        target = runtime.with_value(target, name, runtime.get(current, name))
    return target


def describe(auth_token: str) -> dict[str, Any]:
    """The read-only `destinations` block of the config API."""
    return {
        "editable": editable_over_http(auth_token),
        "fields": list(FIELDS),
        "howToChange": HOW_TO_CHANGE,
    }

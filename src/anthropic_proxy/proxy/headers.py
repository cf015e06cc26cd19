"""Which headers cross the proxy, in each direction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from multidict import CIMultiDict

from anthropic_proxy.record.attribution import OUR_HEADERS
from anthropic_proxy.routing.model import OAUTH_PREFIX, Provider

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
LOOP_HEADER = "x-anthropic-proxy-hop"
NOT_FORWARDED = HOP_BY_HOP | OUR_HEADERS  # x-proxy-project / x-proxy-tags are for the recorder
CLIENT_AUTH = ("x-api-key", "authorization")
OAUTH_BETA = "oauth-2025-04-20"


def request_headers(incoming: Iterable[tuple[str, str]], hop_token: str) -> CIMultiDict[str]:
    """Every end-to-end header the client sent but ours, plus our loop marker."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming:
        if name.lower() not in NOT_FORWARDED:
            out.add(name, value)
    out.add(LOOP_HEADER, hop_token)
    return out


def step_headers(
    incoming: Iterable[tuple[str, str]], hop_token: str, provider: Provider, key: str | None
) -> CIMultiDict[str]:
    """What one attempt sends: the client's headers; for a provider with its own keys, the
    client's credentials replaced by the pool's key (a key goes only to its own provider)."""
    out = request_headers(incoming, hop_token)
    if not provider.key_env and not provider.headers:  # the client's own key: as it came
        return out
    if not provider.client_key:
        for name in CLIENT_AUTH:
            out.popall(name, None)
        if key and key.startswith(OAUTH_PREFIX):  # a subscription token: Bearer + the OAuth beta
            out["authorization"] = f"Bearer {key}"
            betas = out.get("anthropic-beta", "")
            if OAUTH_BETA not in betas:
                out["anthropic-beta"] = f"{betas},{OAUTH_BETA}" if betas else OAUTH_BETA
        elif key:
            out["x-api-key"] = key
    for name, value in provider.headers:
        out[name] = value
    return out


def client_key(incoming: Mapping[str, str]) -> str:
    """The credential the client sent (x-api-key, else the Authorization bearer token)."""
    key = incoming.get("x-api-key")
    if key:
        return key
    auth = incoming.get("authorization") or ""
    return auth[7:] if auth[:7].lower() == "bearer " else auth


def response_headers(upstream: Iterable[tuple[str, str]], keep_length: bool) -> CIMultiDict[str]:
    """The upstream's headers minus hop-by-hop ones; content-length kept when bytes are unchanged."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream:
        lower = name.lower()
        if lower in HOP_BY_HOP and not (keep_length and lower == "content-length"):
            continue
        out.add(name, value)
    return out

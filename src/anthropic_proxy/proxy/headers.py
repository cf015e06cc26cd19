"""Which headers cross the proxy, in each direction."""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict

from anthropic_proxy.record.attribution import OUR_HEADERS

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


def request_headers(incoming: Iterable[tuple[str, str]], hop_token: str) -> CIMultiDict[str]:
    """Every end-to-end header the client sent but ours, plus our loop marker."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming:
        if name.lower() not in NOT_FORWARDED:
            out.add(name, value)
    out.add(LOOP_HEADER, hop_token)
    return out


def response_headers(upstream: Iterable[tuple[str, str]], keep_length: bool) -> CIMultiDict[str]:
    """The upstream's headers minus hop-by-hop ones; content-length kept when bytes are unchanged."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream:
        lower = name.lower()
        if lower in HOP_BY_HOP and not (keep_length and lower == "content-length"):
            continue
        out.add(name, value)
    return out

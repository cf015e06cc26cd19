"""What the terminal shows when the proxy starts and stops: where to look, where traffic goes."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from anthropic_proxy import __version__
from anthropic_proxy.settings import Settings
from anthropic_proxy.state import AppState

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def welcome(settings: Settings, state: AppState) -> str:
    base = public_base(settings)
    mode = state.config.mode
    target = (
        f"translation → {state.config.base_url}"
        if mode == "openrouter"
        else f"pass-through → {state.upstream_url}"
    )
    rows = [
        ("dashboard", f"{base}/monitor"),
        ("mode", f"{target} (switch on {base}/config)"),
        ("store", store_description(settings)),
        ("data dir", str(settings.data_path)),
        ("use it", f"ANTHROPIC_BASE_URL={base} claude"),
    ]
    if settings.host in WILDCARDS:
        rows.insert(
            1, ("listening", f"on every interface ({settings.host or '*'}:{settings.port})")
        )
    lines = [f"anthropic-proxy {__version__} ready"]
    lines += [f"  {name:<10} {value}" for name, value in rows]
    lines.append("  Ctrl+C stops it")
    return "\n".join(lines)


def goodbye(state: AppState) -> str:
    recorder = state.recorder
    lost = f", {recorder.dropped} dropped" if recorder.dropped else ""
    return f"anthropic-proxy: stopped ({recorder.written} exchanges recorded this run{lost})"


def public_base(settings: Settings) -> str:
    """The URL a user can open: a wildcard bind becomes this machine's outward address."""
    host = settings.host
    if host in WILDCARDS:
        host = outward_address(ipv6=host == "::")
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def outward_address(ipv6: bool = False) -> str:
    """The local address the default route uses (a UDP connect sends nothing); loopback if none."""
    family, probe, fallback = (
        (socket.AF_INET6, "2001:db8::1", "::1")
        if ipv6
        else (socket.AF_INET, "192.0.2.1", "127.0.0.1")
    )
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return str(s.getsockname()[0])
    except OSError:
        return fallback


def store_description(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"  # the password never reaches the terminal
        return "PostgreSQL " + urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    path = url.removeprefix("sqlite:///") if url else str(settings.data_path / "exchanges.db")
    return f"SQLite {path}"

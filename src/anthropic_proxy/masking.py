"""Masking of secrets in headers and values: first 10 + '...' + last 4, short values fully masked."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

SECRET_HEADER = re.compile(r"key|token|secret|auth|cookie|password|credential", re.IGNORECASE)
KEEP_HEAD, KEEP_TAIL = 10, 4


MASKED = re.compile(r"^.{10}\.\.\..{4}$|^\*{1,8}$")


def mask_value(value: str) -> str:
    """Idempotent: an already masked value stays as it is."""
    if MASKED.match(value):
        return value
    if len(value) <= KEEP_HEAD + KEEP_TAIL + 6:
        return "*" * min(len(value), 8) if value else value
    return f"{value[:KEEP_HEAD]}...{value[-KEEP_TAIL:]}"


def mask_bearer(value: str) -> str:
    scheme, sep, token = value.partition(" ")
    if sep and scheme.lower() in {"bearer", "basic", "token"}:
        return f"{scheme} {mask_value(token)}"
    return mask_value(value)


@lru_cache(maxsize=1024)  # header names repeat; this runs on the hot path (crash journal)
def is_secret_header(name: str) -> bool:
    return bool(SECRET_HEADER.search(name)) and not name.lower().startswith("anthropic-ratelimit")


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased header dict with every secret-looking value masked; repeated names joined."""
    masked: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        shown = mask_bearer(value) if is_secret_header(key) else value
        masked[key] = f"{masked[key]}, {shown}" if key in masked else shown
    return masked

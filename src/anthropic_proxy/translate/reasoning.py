"""Carrying OpenRouter reasoning through Claude Code's thinking blocks (protocol.md E24).

Claude Code returns every thinking block unchanged, and its context edits may clear the text
but keep the signature, so the signature carries the provider's `reasoning_details` (with their
own signatures or encrypted data) as base64 JSON behind a prefix. A signature without the
prefix came from Anthropic itself and means nothing to another backend.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import orjson

from anthropic_proxy.wire import JSON

PREFIX: Final = "orp1:"
_TEXT_KEYS: Final = ("text", "summary")


def pack(details: list[JSON]) -> str:
    return PREFIX + base64.urlsafe_b64encode(orjson.dumps(details)).decode("ascii")


def unpack(signature: object) -> list[JSON] | None:
    """The details packed into a signature, or None when it is not one of ours."""
    if not isinstance(signature, str) or not signature.startswith(PREFIX):
        return None
    try:
        details = orjson.loads(base64.urlsafe_b64decode(signature[len(PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else None


def detail_text(detail: JSON) -> str:
    for key in _TEXT_KEYS:
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def merge_detail(details: list[JSON], fragment: JSON) -> None:
    """Fold one streamed fragment into the details so far: same index and type means the same
    detail continued (text appended, signature/data/id taken when they arrive)."""
    last = details[-1] if details else None
    same = last is not None and last.get("type") == fragment.get("type")
    if not same or last is None or last.get("index") != fragment.get("index"):
        details.append(dict(fragment))
        return
    for key, value in fragment.items():
        if key in _TEXT_KEYS and isinstance(value, str):
            last[key] = str(last.get(key) or "") + value
        elif value is not None:
            last[key] = value


def is_encrypted(detail: JSON) -> bool:
    return detail.get("type") == "reasoning.encrypted"

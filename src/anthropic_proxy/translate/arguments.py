"""Tool-call arguments as a JSON object, whatever the backend sent (protocol.md E14, E15).

Claude Code validates tool input against the schema, so the goal is the object the model meant:
parse; unwrap a JSON document sent as a JSON string; close what a cut-off stream left open;
otherwise `{}` rather than a made-up shape.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

import orjson

_CLOSERS: Final = MappingProxyType({"{": "}", "[": "]"})


def parse_arguments(raw: str) -> dict[str, Any]:
    text = raw.strip()
    if not text:
        return {}
    for candidate in (text, closed(text)):
        value = _loads(candidate)
        if isinstance(value, str):
            value = _loads(value.strip())
        if isinstance(value, dict):
            return value
    return {}


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def closed(text: str) -> str:
    """Close an unterminated string and every open bracket, dropping a dangling comma or colon."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]" and stack:
            stack.pop()
    if escaped:
        text = text[:-1]
    if in_string:
        text += '"'
    text = text.rstrip()
    while text.endswith((",", ":")):
        text = text[:-1].rstrip()
    return text + "".join(reversed(stack))

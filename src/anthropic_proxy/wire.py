"""The loose edge of typing: wire JSON, narrowing helpers for values read out of it, and the one
parser for a body that must be a JSON object."""

from __future__ import annotations

from typing import Any

import orjson

from anthropic_proxy.errors import BadRequest, ProxyError

JSON = dict[str, Any]


def obj(value: object) -> JSON:
    """`value` if it is a JSON object, else an empty one: upstream fields are never trusted."""
    return value if isinstance(value, dict) else {}


def objects(value: object) -> list[JSON]:
    """The JSON objects in `value` if it is a list, skipping anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def json_object(raw: bytes, what: str, error: type[ProxyError] = BadRequest) -> JSON:
    """`raw` parsed as the JSON object it must be; anything else raises `error`, naming `what`."""
    if not raw.strip():
        raise error(f"{what} is empty; expected a JSON object")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise error(f"{what} must be a JSON object")
    return parsed

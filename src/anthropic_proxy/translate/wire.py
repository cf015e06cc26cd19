"""The loose edge of typing: wire JSON, and narrowing helpers for values read out of it."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def obj(value: object) -> JSON:
    """`value` if it is a JSON object, else an empty one: upstream fields are never trusted."""
    return value if isinstance(value, dict) else {}


def objects(value: object) -> list[JSON]:
    """The JSON objects in `value` if it is a list, skipping anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

"""Upstream errors in Anthropic's shape (protocol.md §5.8).

Claude Code classifies errors by HTTP status and `error.type`, honours `retry-after`, and reacts
to the wording of a few messages: a context overflow must read `prompt is too long: N tokens > M
maximum` or reactive compaction never runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import orjson

from anthropic_proxy.errors import error_body
from anthropic_proxy.translate.mappings import ERROR_STATUS, ERROR_TYPES, STATUS_ERRORS
from anthropic_proxy.wire import JSON

_OVERFLOW: Final = re.compile(
    r"context.{0,20}(length|window)|maximum context|prompt is too long|too many (input )?tokens"
    r"|reduce the length|input is too long",
    re.IGNORECASE,
)
_OVERFLOW_TYPES: Final = frozenset({"context_length_exceeded", "token_limit_exceeded"})
_LIMIT: Final = re.compile(
    r"(?:maximum context length is|limit of|limit is|maximum of) (\d+)", re.I
)
_ASKED: Final = re.compile(
    r"(?:requested|resulted in|you have|prompt has|prompt contains|input has) (?:about )?(\d+)",
    re.I,
)
_NO_RETRY: Final = frozenset({"billing_error", "authentication_error", "permission_error"})


@dataclass(frozen=True, slots=True)
class MappedError:
    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, request_id: str | None = None) -> JSON:
        return error_body(self.error_type, self.message, request_id)


def upstream_http_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    input_tokens: Callable[[], int] | None = None,
) -> MappedError:
    """An upstream non-2xx reply, before any stream started."""
    error = _error_object(body)
    error_type, message = classify(error, status, input_tokens)
    known = _metadata_type(error) is not None
    fallback = (400, "invalid_request_error") if status < 500 else (500, "api_error")
    out_status = ERROR_STATUS[error_type] if known else STATUS_ERRORS.get(status, fallback)[0]
    return MappedError(out_status, error_type, message, retry_headers(error, headers, error_type))


def classify(
    error: JSON, status: int | None, input_tokens: Callable[[], int] | None = None
) -> tuple[str, str]:
    """(Anthropic error.type, message) for an OpenAI/OpenRouter error object."""
    message = _message(error, status)
    if _is_overflow(error, message):
        return "invalid_request_error", _prompt_too_long(message, input_tokens)
    named = _metadata_type(error)
    if named is not None:
        return named, message
    code = error.get("code")
    if status is None and isinstance(code, int):
        status = code
    if status is not None:
        default = "invalid_request_error" if status < 500 else "api_error"
        return STATUS_ERRORS.get(status, (0, default))[1], message
    return _string_code_type(code), message


def stream_error(error: JSON, input_tokens: Callable[[], int] | None = None) -> tuple[str, str]:
    """An `error` object inside a 200 stream (OpenRouter's code may be an int or a string)."""
    return classify(error, None, input_tokens)


def retry_headers(error: JSON, headers: Mapping[str, str], error_type: str) -> dict[str, str]:
    out: dict[str, str] = {}
    seconds = _retry_after(error, headers)
    if isinstance(seconds, float):
        out["retry-after"] = str(math.ceil(seconds))
        out["retry-after-ms"] = str(math.ceil(seconds * 1000))
    elif seconds:
        out["retry-after"] = seconds
    availability = error.get("availability")
    if error_type in _NO_RETRY or (
        isinstance(availability, dict) and availability.get("retryable") is False
    ):
        out["x-should-retry"] = "false"
    return out


def _retry_after(error: JSON, headers: Mapping[str, str]) -> float | str | None:
    for name in ("retry-after-ms", "retry-after"):
        value = next((v for k, v in headers.items() if k.lower() == name), None)
        if value is not None:
            try:
                number = float(value)
            except ValueError:
                return value  # an HTTP date: passed on unchanged
            return number / 1000 if name == "retry-after-ms" else number
    availability = error.get("availability")
    hint = availability.get("retry_after") if isinstance(availability, dict) else None
    return float(hint) if isinstance(hint, int | float) else None


def _error_object(body: bytes) -> JSON:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return {"message": text[:2000]} if text else {}
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
        return parsed
    return {}


def _message(error: JSON, status: int | None) -> str:
    message = error.get("message")
    text = message if isinstance(message, str) and message else ""
    metadata = error.get("metadata")
    if isinstance(metadata, dict):
        reasons = metadata.get("reasons")
        if isinstance(reasons, list) and reasons:
            text += f" (flagged: {', '.join(map(str, reasons))})"
        raw = metadata.get("raw")
        if isinstance(raw, str) and raw and raw not in text:
            text += f": {raw[:2000]}"
    return text or (f"upstream returned HTTP {status}" if status else "upstream error")


def _metadata_type(error: JSON) -> str | None:
    metadata = error.get("metadata")
    name = metadata.get("error_type") if isinstance(metadata, dict) else None
    return ERROR_TYPES.get(name) if isinstance(name, str) else None


def _string_code_type(code: object) -> str:
    if not isinstance(code, str):
        return "api_error"
    if "overload" in code:
        return "overloaded_error"
    if "rate" in code:
        return "rate_limit_error"
    return ERROR_TYPES.get(code, "api_error")


def _is_overflow(error: JSON, message: str) -> bool:
    metadata = error.get("metadata")
    name = metadata.get("error_type") if isinstance(metadata, dict) else None
    return (
        name in _OVERFLOW_TYPES
        or error.get("code") in _OVERFLOW_TYPES
        or bool(_OVERFLOW.search(message))
    )


def _prompt_too_long(message: str, input_tokens: Callable[[], int] | None) -> str:
    if message.startswith("prompt is too long"):
        return message
    limit, asked = _LIMIT.search(message), _ASKED.search(message)
    tokens = int(asked.group(1)) if asked else (input_tokens() if input_tokens else None)
    if tokens is None:
        return f"prompt is too long: {message}"
    if limit is None:
        return f"prompt is too long: {tokens} tokens > the backend's maximum ({message})"
    return f"prompt is too long: {tokens} tokens > {limit.group(1)} maximum"

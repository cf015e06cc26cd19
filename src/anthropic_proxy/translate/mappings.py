"""The translation tables: every name that changes between the two APIs, as data."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# OpenAI finish_reason -> Anthropic stop_reason (protocol.md §5.5). "error" and a missing
# finish_reason never get a stop reason: they end the stream with an error event instead.
STOP_REASONS: Final = MappingProxyType(
    {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "function_call": "tool_use",
        "content_filter": "refusal",
    }
)

# Anthropic tool_choice.type -> OpenAI tool_choice; "tool" names a function instead.
TOOL_CHOICES: Final = MappingProxyType({"auto": "auto", "any": "required", "none": "none"})

# Upstream HTTP status -> (status sent to Claude Code, Anthropic error.type), §5.8.
# 502 and 503 become retryable statuses the Anthropic SDK already knows how to back off from.
STATUS_ERRORS: Final = MappingProxyType(
    {
        400: (400, "invalid_request_error"),
        401: (401, "authentication_error"),
        402: (402, "billing_error"),
        403: (403, "permission_error"),
        404: (404, "not_found_error"),
        408: (504, "timeout_error"),
        409: (409, "invalid_request_error"),
        412: (400, "invalid_request_error"),
        413: (413, "request_too_large"),
        422: (400, "invalid_request_error"),
        429: (429, "rate_limit_error"),
        500: (500, "api_error"),
        502: (500, "api_error"),
        503: (529, "overloaded_error"),
        504: (504, "timeout_error"),
        529: (529, "overloaded_error"),
    }
)

# OpenRouter metadata.error_type -> Anthropic error.type (OpenRouter's own Anthropic skin, §4.9).
ERROR_TYPES: Final = MappingProxyType(
    {
        "authentication": "authentication_error",
        "permission_denied": "permission_error",
        "payment_required": "billing_error",
        "not_found": "not_found_error",
        "image_not_found": "not_found_error",
        "rate_limit_exceeded": "rate_limit_error",
        "provider_overloaded": "overloaded_error",
        "timeout": "timeout_error",
        "provider_unavailable": "api_error",
        "server": "api_error",
        "server_error": "api_error",
        "unmapped": "api_error",
        "payload_too_large": "request_too_large",
    }
)

# Anthropic error.type -> HTTP status, for errors that surface without an upstream status
# (a 200 body carrying an error, a non-stream reply that failed half way).
ERROR_STATUS: Final = MappingProxyType(
    {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "billing_error": 402,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "api_error": 500,
        "timeout_error": 504,
        "overloaded_error": 529,
    }
)

# Anthropic output_config.effort -> OpenAI reasoning_effort for backends that only know three.
EFFORTS: Final = MappingProxyType(
    {
        "minimal": "low",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "xhigh": "high",
        "max": "high",
    }
)

# thinking.budget_tokens upper bounds -> effort, for backends without reasoning.max_tokens.
BUDGET_EFFORTS: Final = ((2048, "low"), (16384, "medium"))

# Request fields with no OpenAI meaning: dropped, and listed in the translation's changes.
DROPPED_FIELDS: Final = frozenset(
    {
        "service_tier",
        "container",
        "inference_geo",
        "context_management",
        "mcp_servers",
        "fallbacks",
        "diagnostics",
        "speed",
        "betas",
    }
)

# Anthropic server tools the backend cannot run (§5.3); web search is mapped separately.
WEB_SEARCH_PREFIX: Final = "web_search_"
OPENAI_STOP_LIMIT: Final = 4
TOOL_NAME_LIMIT: Final = 64
MIN_MAX_TOKENS: Final = 16
BILLING_HEADER_PREFIX: Final = "x-anthropic-billing-header:"

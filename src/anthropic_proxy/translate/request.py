"""An Anthropic Messages request -> an OpenAI chat-completions request (protocol.md §5.1, §5.3).

Each top-level field has one small translator in `FIELD_STEPS`; every field dropped, renamed or
clamped on the way is listed in `UpstreamRequest.changes` for the recorder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from anthropic_proxy.translate.mappings import (
    BUDGET_EFFORTS,
    DROPPED_FIELDS,
    EFFORTS,
    MIN_MAX_TOKENS,
    OPENAI_STOP_LIMIT,
    TOOL_CHOICES,
    WEB_SEARCH_PREFIX,
)
from anthropic_proxy.translate.messages import (
    Conversion,
    backend_tool_name,
    chat_messages,
    system_messages,
)
from anthropic_proxy.wire import JSON, obj

SEARCH_QUERY: Final = re.compile(r"web search for the query:\s*(.+)", re.IGNORECASE | re.DOTALL)
QUERY_LIMIT: Final = 500
USER_LIMIT: Final = 256
SESSION_LIMIT: Final = 256


@dataclass(frozen=True, slots=True)
class Target:
    """The backend a request is translated for."""

    model: str
    openrouter: bool = True
    """OpenRouter extras: `reasoning`, `session_id`, `plugins`, `top_k`, `cache_control`."""
    cache_control: bool = False
    session_id: str | None = None
    max_tokens_key: str = "max_tokens"
    """`max_completion_tokens` for backends (OpenAI's own) that reject `max_tokens`."""
    max_output: int | None = None
    """The model's `top_provider.max_completion_tokens`, when the backend's model list is known."""
    images: bool = True
    """False when the model list says the model takes no image input (E8)."""


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    body: JSON
    tool_names: Mapping[str, str] = field(default_factory=dict)
    """Backend tool name -> the client's, for names that had to be shortened (E13)."""
    changes: tuple[str, ...] = ()
    stop_sequences: tuple[str, ...] = ()
    thinking: bool = False
    """Whether the client asked for thinking; reasoning it did not ask for is dropped (E27)."""
    output_limit: int | None = None
    """A max_tokens below the providers' minimum, raised on the way out: the reply is cut back
    to it (E36)."""
    web_search: str | None = None
    """The query shown in the reply's server_tool_use block when web search was mapped (E41)."""


def anthropic_to_openai_request(body: JSON, target: Target) -> UpstreamRequest:
    conv = Conversion(
        cache_control=target.cache_control, openrouter=target.openrouter, images=target.images
    )
    out: JSON = {"model": target.model}
    out["messages"] = system_messages(body.get("system"), conv) + chat_messages(
        body.get("messages"), conv
    )
    for step in FIELD_STEPS:
        step(body, out, target, conv)
    stops = body.get("stop_sequences")
    return UpstreamRequest(
        body=out,
        tool_names=_shortened_names(body),
        changes=tuple(conv.changes),
        stop_sequences=tuple(s for s in stops if isinstance(s, str))
        if isinstance(stops, list)
        else (),
        thinking=_thinking_requested(body),
        output_limit=_output_limit(body),
        web_search=search_query(body) if "plugins" in out else None,
    )


def _output_limit(body: JSON) -> int | None:
    value = body.get("max_tokens")
    return value if isinstance(value, int) and 0 < value < MIN_MAX_TOKENS else None


def search_query(body: JSON) -> str:
    """What the web plugin searches for: the last user text (Claude Code's WebSearch phrasing
    "Perform a web search for the query: …" reduced to the query)."""
    text = ""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            text = _plain_text(message.get("content")) or text
    found = SEARCH_QUERY.search(text)
    return (found.group(1) if found else text).strip()[:QUERY_LIMIT]


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = [
        b.get("text")
        for b in (content if isinstance(content, list) else [])
        if isinstance(b, dict) and b.get("type") == "text"
    ]
    return "\n".join(t for t in texts if isinstance(t, str))


def _shortened_names(body: JSON) -> dict[str, str]:
    names = {str(t.get("name", "")) for t in body.get("tools") or [] if isinstance(t, dict)}
    return {backend_tool_name(n): n for n in names if backend_tool_name(n) != n}


def _thinking_requested(body: JSON) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


Step = Callable[[JSON, JSON, Target, Conversion], None]


def _max_tokens(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    value = body.get("max_tokens")
    if not isinstance(value, int):
        return
    if 0 < value < MIN_MAX_TOKENS:
        conv.note(
            f"raised max_tokens {value} -> {MIN_MAX_TOKENS} (some providers' minimum); "
            f"the reply is cut back to {value}"
        )
    elif target.max_output is not None and value > target.max_output:
        conv.note(f"clamped max_tokens {value} -> {target.max_output} (the model's output limit)")
        value = target.max_output
    out[target.max_tokens_key] = max(value, MIN_MAX_TOKENS)


def _sampling(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    for name in ("temperature", "top_p"):
        if isinstance(body.get(name), int | float):
            out[name] = body[name]
    if isinstance(body.get("top_k"), int):
        if target.openrouter:
            out["top_k"] = body["top_k"]
        else:
            conv.note("dropped top_k (not an OpenAI parameter)")


def _stop(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    stops = [s for s in body.get("stop_sequences") or [] if isinstance(s, str) and s]
    if len(stops) > OPENAI_STOP_LIMIT:
        conv.note(f"truncated stop_sequences {len(stops)} -> {OPENAI_STOP_LIMIT}")
    if stops:
        out["stop"] = stops[:OPENAI_STOP_LIMIT]


def _stream(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}


def _user(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str) and user:
        if len(user) > USER_LIMIT:
            conv.note(f"truncated metadata.user_id to {USER_LIMIT} characters")
        out["user"] = user[:USER_LIMIT]
    if target.openrouter and target.session_id:
        out["session_id"] = target.session_id[:SESSION_LIMIT]


def _tools(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    functions: list[JSON] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            _tool(tool, functions, out, target, conv)
    if functions:
        out["tools"] = functions
        _tool_choice(body.get("tool_choice"), {f["function"]["name"] for f in functions}, out, conv)


def _tool(tool: JSON, functions: list[JSON], out: JSON, target: Target, conv: Conversion) -> None:
    kind = str(tool.get("type") or "custom")
    if kind == "custom":
        functions.append(_function(tool, target))
    elif kind.startswith(WEB_SEARCH_PREFIX) and target.openrouter:
        plugin: JSON = {"id": "web"}
        if isinstance(tool.get("max_uses"), int):
            plugin["max_results"] = tool["max_uses"]
        out["plugins"] = [plugin]
        conv.note("mapped the web_search server tool to OpenRouter's web plugin")
    else:
        conv.note(f"dropped the {kind} server tool (no equivalent on the backend)")


def _function(tool: JSON, target: Target) -> JSON:
    function: JSON = {
        "name": backend_tool_name(str(tool.get("name", ""))),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    out: JSON = {"type": "function", "function": function}
    if target.cache_control and tool.get("cache_control"):
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any, names: set[str], out: JSON, conv: Conversion) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        name = backend_tool_name(str(choice.get("name", "")))
        if name not in names:
            conv.note("dropped tool_choice naming a tool the backend cannot run")
            return
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif isinstance(kind, str) and kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _thinking(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    thinking = obj(body.get("thinking"))
    kind = thinking.get("type")
    effort = str(obj(body.get("output_config")).get("effort") or "medium")
    budget = thinking.get("budget_tokens")
    if target.openrouter:
        reasoning: JSON = {"exclude": True}
        if kind == "enabled" and isinstance(budget, int):
            reasoning = {"max_tokens": budget}
        elif kind in ("enabled", "adaptive"):
            reasoning = {"effort": effort}
        if kind in ("enabled", "adaptive") and thinking.get("display") == "omitted":
            reasoning["exclude"] = True
        out["reasoning"] = reasoning
    elif kind == "enabled" and isinstance(budget, int):
        out["reasoning_effort"] = next(
            (e for limit, e in BUDGET_EFFORTS if budget <= limit), "high"
        )
    elif kind == "adaptive":
        out["reasoning_effort"] = EFFORTS.get(effort, "medium")


def _response_format(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    config = obj(body.get("output_config"))
    fmt = config.get("format") or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {"name": "output", "schema": fmt.get("schema") or {}, "strict": True}
        out["response_format"] = {"type": "json_schema", "json_schema": schema}


def _cache_and_dropped(body: JSON, out: JSON, target: Target, conv: Conversion) -> None:
    if isinstance(body.get("cache_control"), dict):
        if target.cache_control:
            out["cache_control"] = body["cache_control"]
        else:
            conv.note("dropped top-level cache_control (backend caches by prefix)")
    for name in sorted(DROPPED_FIELDS & body.keys()):
        conv.note(f"dropped {name}")


FIELD_STEPS: Final[tuple[Step, ...]] = (
    _max_tokens,
    _sampling,
    _stop,
    _stream,
    _user,
    _tools,
    _thinking,
    _response_format,
    _cache_and_dropped,
)

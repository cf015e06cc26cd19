"""A scriptable fake OpenAI-compatible / OpenRouter API on 127.0.0.1 for tests.

Quick use::

    async with FakeOpenAI() as fake:        # base URL for the proxy: fake.url (+ "/api" also works)
        fake.enqueue(completion("Hello", tool_calls=[tool_call("Read", {"file_path": "a.py"})]))
        fake.enqueue(JSONReply(openai_error(429, "rate_limit_exceeded"), 429, {"retry-after": "2"}))
        fake.enqueue(StreamReply([*completion_chunks(c)[:3], mid_stream_error(), Reset()]))
        ...
        body = fake.requests[-1].json()     # what the proxy sent

`POST /v1/chat/completions` answers from the queue, then `responder(req)`, then a plain "ok"
completion. A completion dict (see `completion`) is rendered as JSON, or, when the request has
`"stream": true`, as OpenRouter's SSE: a `: OPENROUTER PROCESSING` comment, a role chunk,
reasoning / content / tool_call argument chunks, a finish_reason chunk, a usage-only chunk with
`choices: []` and `data: [DONE]`. `JSONReply`, `StreamReply`, `Sleep`, `Reset`, `BadFraming`,
`Gate`, `cut_multibyte` and the recording / disconnect helpers are the same as in
`anthropic_upstream`.
`GET /v1/models` lists `MODELS`; `GET /v1/key` returns key info (401 without a bearer token).
Paths are also served under `/api/v1/...`, as on openrouter.ai.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from .anthropic_upstream import (
    BadFraming,
    FakeServer,
    Gate,
    JSONReply,
    RecordedRequest,
    Reply,
    Reset,
    Responder,
    Sleep,
    StreamReply,
    cut_multibyte,
    echo_reply,
)

__all__ = [
    "MODELS",
    "BadFraming",
    "FakeOpenAI",
    "Gate",
    "JSONReply",
    "RecordedRequest",
    "Reset",
    "Sleep",
    "StreamReply",
    "completion",
    "completion_chunks",
    "cut_multibyte",
    "data",
    "mid_stream_error",
    "openai_error",
    "tool_call",
]

_ids = itertools.count(1)


def tool_call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call_id = id or f"call_fake{next(_ids):06d}"
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def completion(
    content: str | None = "ok",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    model: str | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int = 0,
    cost: float | None = 0.0003,
) -> dict[str, Any]:
    """A chat.completion; `model` None takes the request's model when rendered."""
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg["reasoning"] = reasoning
    if tool_calls:
        msg["tool_calls"] = tool_calls
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }
    if cost is not None:
        usage["cost"] = cost
    finish = finish_reason or ("tool_calls" if tool_calls else "stop")
    return {
        "id": f"gen-fake{next(_ids):06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
        "usage": usage,
    }


def data(obj: Any) -> bytes:
    """One `data:` SSE line (no `event:` line, as OpenAI does)."""
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _split(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def completion_chunks(c: dict[str, Any], *, parts: int = 3, comment: bool = True) -> list[bytes]:
    """The streamed form of completion `c`, one bytes item per SSE line (see module doc)."""
    base = {"id": c["id"], "object": "chat.completion.chunk", "created": c["created"]}
    base["model"] = c["model"]
    choice = c["choices"][0]
    msg = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    out = [b": OPENROUTER PROCESSING\n\n"] if comment else []
    out.append(chunk({"role": "assistant", "content": ""}))
    for r in _split(msg.get("reasoning") or "", parts):
        detail = {"type": "reasoning.text", "text": r, "format": "openai-responses-v1", "index": 0}
        out.append(chunk({"reasoning": r, "reasoning_details": [detail]}))
    out += [chunk({"content": t}) for t in _split(msg.get("content") or "", parts)]
    for i, call in enumerate(msg.get("tool_calls") or []):
        fn = call["function"]
        head = {"index": i, "id": call["id"], "type": "function"}
        out.append(
            chunk({"tool_calls": [{**head, "function": {"name": fn["name"], "arguments": ""}}]})
        )
        for a in _split(fn["arguments"], parts):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": a}}]}))
    finish = choice["finish_reason"]
    out.append(data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                          "native_finish_reason": finish}]}))  # fmt: skip
    out.append(data({**base, "choices": [], "usage": c["usage"]}))
    out.append(b"data: [DONE]\n\n")
    return out


def openai_error(
    code: int, error_type: str = "server", message: str | None = None
) -> dict[str, Any]:
    """OpenRouter's error body: `{"error": {"code", "message", "metadata": {"error_type"}}}`."""
    meta = {"error_type": error_type, "provider_name": "FakeProvider"}
    return {"error": {"code": code, "message": message or f"fake {error_type}", "metadata": meta}}


def mid_stream_error(code: int | str = 502, error_type: str = "provider_unavailable") -> bytes:
    """The chunk OpenRouter sends when a stream fails after HTTP 200."""
    err = {"code": code, "message": "Provider disconnected", "metadata": {"error_type": error_type}}
    choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
    return data(
        {"id": "gen-err", "object": "chat.completion.chunk", "error": err, "choices": [choice]}
    )


MODELS = {
    "data": [
        {
            "id": m,
            "canonical_slug": m,
            "name": m,
            "created": 1767000000,
            "context_length": 200000,
            "pricing": {"prompt": "0.000003", "completion": "0.000015"},
            "top_provider": {"context_length": 200000, "max_completion_tokens": 64000},
            "supported_parameters": ["tools", "reasoning", "max_tokens"],
        }
        for m in ("anthropic/claude-sonnet-4.6", "openai/gpt-5.2", "z-ai/glm-4.6")
    ]
}

KEY_INFO = {
    "data": {
        "label": "sk-or-v1-fak...7890",
        "limit": None,
        "limit_remaining": None,
        "usage": 0.42,
        "is_free_tier": False,
        "is_management_key": False,
        "expires_at": None,
    }
}


class FakeOpenAI(FakeServer):
    """The fake OpenAI-compatible backend; see the module docstring."""

    def __init__(self, responder: Responder | None = None) -> None:
        super().__init__(responder)

    def default_reply(self, rec: RecordedRequest) -> Reply:
        path = rec.path.removeprefix("/api")
        if rec.method == "POST" and path == "/v1/chat/completions":
            return self.scripted(rec) or completion()
        if rec.method == "GET" and path == "/v1/models":
            return JSONReply(MODELS)
        if rec.method == "GET" and path in ("/v1/key", "/v1/auth/key"):
            if not rec.headers.get("authorization", "").startswith("Bearer "):
                return JSONReply(openai_error(401, "authentication", "No auth credentials"), 401)
            return JSONReply(KEY_INFO)
        return echo_reply(rec)

    def render_message(self, rec: RecordedRequest, msg: dict[str, Any]) -> JSONReply | StreamReply:
        body = rec.json() if rec.body else {}
        body = body if isinstance(body, dict) else {}
        if msg.get("model") is None:
            msg = {**msg, "model": body.get("model", "openai/gpt-5.2")}
        if body.get("stream"):
            return StreamReply(completion_chunks(msg))
        return JSONReply(msg)

"""The compatibility self-test: a short battery against the backend for each mapped model.

Each check sends an Anthropic request through the same client (`backend/client.py`) and
translation as live traffic and judges the Anthropic reply, so a pass means Claude Code would
get what it needs. The result is one capability line per model, e.g. `text ✓ stream ✓ tools ✓ tool-result ✓ image ✗ thinking ✓ ...`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Final

import aiohttp

from anthropic_proxy.backend import client
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.errors import ProxyError
from anthropic_proxy.translate.errors import upstream_http_error
from anthropic_proxy.translate.response import (
    UpstreamFailure,
    accumulate,
    openai_to_anthropic_message,
)
from anthropic_proxy.translate.stream import anthropic_events, upstream_chunks
from anthropic_proxy.translate.tokens import estimate_input_tokens
from anthropic_proxy.wire import JSON

CHECK_TIMEOUT_S: Final = 60.0
# A 1x1 red PNG.
PIXEL: Final = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WEATHER_TOOL: Final = MappingProxyType(
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
)
Check = Callable[["Probe"], Awaitable[str]]


class Probe:
    """Sends Anthropic requests for one backend model and returns Anthropic messages."""

    def __init__(self, session: aiohttp.ClientSession, store: ConfigStore, model: str) -> None:
        self.session, self.store, self.model = session, store, model

    async def send(self, body: JSON) -> JSON:
        call = client.build_call(self.store, {"model": self.model, **body}, self.model)
        response = await client.send(self.session, call)
        try:
            if response.status >= 300:
                raw = await client.read(response)
                error = upstream_http_error(response.status, raw, response.headers)
                raise UpstreamFailure(error.error_type, f"HTTP {error.status}: {error.message}")
            if body.get("stream"):
                chunks = upstream_chunks(client.body_bytes(response))
                return await accumulate(anthropic_events(chunks, call.stream))
            reply = client.reply_object(await client.read(response))
            return await openai_to_anthropic_message(reply, call.stream)
        finally:
            response.close()


def _user(*content: JSON) -> list[JSON]:
    return [{"role": "user", "content": list(content)}]


def _text(message: JSON) -> str:
    return "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")


def _blocks(message: JSON, kind: str) -> list[JSON]:
    return [b for b in message.get("content", []) if b.get("type") == kind]


async def check_text(probe: Probe) -> str:
    message = await probe.send(
        {"max_tokens": 64, "messages": _user({"type": "text", "text": "Say pong."})}
    )
    return "ok" if _text(message).strip() else "fail: empty reply"


async def check_stream(probe: Probe) -> str:
    body = {
        "max_tokens": 64,
        "stream": True,
        "messages": _user({"type": "text", "text": "Say pong."}),
    }
    message = await probe.send(body)
    return "ok" if _text(message).strip() and message.get("stop_reason") else "fail: empty stream"


async def check_tools(probe: Probe) -> str:
    body = {
        "max_tokens": 256,
        "stream": True,
        "tools": [dict(WEATHER_TOOL)],
        "tool_choice": {"type": "any"},
        "messages": _user({"type": "text", "text": "What is the weather in Paris?"}),
    }
    calls = _blocks(await probe.send(body), "tool_use")
    return (
        "ok"
        if calls and isinstance(calls[0].get("input"), dict) and calls[0]["input"].get("city")
        else "fail: no tool call"
    )


async def check_tool_result(probe: Probe) -> str:
    call = {
        "type": "tool_use",
        "id": "toolu_selftest01",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    result = {"type": "tool_result", "tool_use_id": "toolu_selftest01", "content": "18°C and sunny"}
    body = {
        "max_tokens": 128,
        "tools": [dict(WEATHER_TOOL)],
        "messages": [
            *_user({"type": "text", "text": "What is the weather in Paris?"}),
            {"role": "assistant", "content": [call]},
            *_user(result),
        ],
    }
    return (
        "ok" if _text(await probe.send(body)).strip() else "fail: no answer after the tool result"
    )


async def check_image(probe: Probe) -> str:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
    }
    ask = {"type": "text", "text": "What colour is this pixel? One word."}
    message = await probe.send({"max_tokens": 32, "messages": _user(image, ask)})
    return "ok" if _text(message).strip() else "fail: empty reply"


async def check_thinking(probe: Probe) -> str:
    body = {
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": _user({"type": "text", "text": "Is 391 prime? Answer yes or no."}),
    }
    thinking = _blocks(await probe.send(body), "thinking")
    return "ok" if thinking and thinking[0].get("signature") else "no thinking returned"


async def check_count_tokens(probe: Probe) -> str:
    tokens = estimate_input_tokens({"messages": _user({"type": "text", "text": "Say pong."})})
    return f"ok ({tokens} tokens estimated locally)"


async def check_errors(probe: Probe) -> str:
    broken = Probe(probe.session, probe.store, "anthropic-proxy/self-test-no-such-model")
    try:
        await broken.send({"max_tokens": 16, "messages": _user({"type": "text", "text": "hi"})})
    except UpstreamFailure as failure:
        return f"ok ({failure.error_type})"
    return "fail: an unknown model was accepted"


CHECKS: Final[MappingProxyType[str, Check]] = MappingProxyType(
    {
        "text": check_text,
        "stream": check_stream,
        "tools": check_tools,
        "tool-result": check_tool_result,
        "image": check_image,
        "thinking": check_thinking,
        "count_tokens": check_count_tokens,
        "errors": check_errors,
    }
)


async def _run_check(check: Check, probe: Probe) -> str:
    try:
        return await asyncio.wait_for(check(probe), CHECK_TIMEOUT_S)
    except (UpstreamFailure, ProxyError) as failure:
        return f"fail: {failure.error_type}: {failure.message[:300]}"
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        return f"fail: {type(exc).__name__}: {exc}"


async def _test_model(session: aiohttp.ClientSession, store: ConfigStore, model: str) -> JSON:
    probe = Probe(session, store, model)
    results = await asyncio.gather(*(_run_check(check, probe) for check in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    line = " ".join(f"{name} {'✓' if r.startswith('ok') else '✗'}" for name, r in checks.items())
    return {"model": model, "capabilities": line, "checks": checks}


async def run_self_test(session: aiohttp.ClientSession, store: ConfigStore) -> JSON:
    started = time.monotonic()
    mapping = store.mapping()
    models = list(dict.fromkeys([*mapping.families.values(), mapping.default]))
    reports = await asyncio.gather(*(_test_model(session, store, m) for m in models if m))
    families = {family: model for family, model in mapping.families.items()}
    return {
        "baseUrl": store.base_url,
        "families": families,
        "models": list(reports),
        "duration_ms": round((time.monotonic() - started) * 1000),
    }

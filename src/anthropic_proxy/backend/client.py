"""One call to an OpenAI-compatible backend: pick the target and key, translate, send, read.

Shared by the translated route (`proxy/translated.py`) and the self-test (`backend/selftest.py`),
so both send exactly what live traffic sends. aiohttp failures become ProxyErrors here, at this
one boundary (or `StreamInterrupted` once a stream has started, for the translator to end it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import orjson

from anthropic_proxy import __version__
from anthropic_proxy.backend.catalog import ModelCatalog, ModelInfo
from anthropic_proxy.config.runtime import Attribution
from anthropic_proxy.config.store import ConfigStore
from anthropic_proxy.errors import (
    BadRequest,
    Unauthorized,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from anthropic_proxy.exchange import Capture
from anthropic_proxy.settings import Settings
from anthropic_proxy.translate.models import accepts_cache_control, resolve
from anthropic_proxy.translate.request import Target, UpstreamRequest, anthropic_to_openai_request
from anthropic_proxy.translate.stream import StreamContext, StreamInterrupted
from anthropic_proxy.translate.tokens import estimate_input_tokens, quick_estimate
from anthropic_proxy.translate.usage import upstream_cost
from anthropic_proxy.wire import JSON, json_object

SESSION_HEADER: Final = "x-claude-code-session-id"


@dataclass(frozen=True, slots=True)
class TranslationContext:
    """What the translated edge needs from the app; built once by `create_app`."""

    session: aiohttp.ClientSession
    settings: Settings
    config: ConfigStore
    ping_interval_s: float = 15.0
    """Claude Code's stall watchdog fires at about 20 s without bytes (protocol.md E35)."""
    catalog: ModelCatalog | None = None
    """The backend's model list (shared with the config API): output limits, image support."""


@dataclass(frozen=True, slots=True)
class Call:
    """One translated request, ready to send."""

    url: str
    headers: dict[str, str]
    upstream: UpstreamRequest
    stream: StreamContext
    model: str
    """The backend model the request was resolved to."""
    timeout: aiohttp.ClientTimeout | None = None
    """A routed provider's own timeout (None: the session's)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A routed openai-kind provider (`routing/`): its URL, the key from its own pool (or the
    client's), the model the route names (None: the seed mapping), extra headers, timeout.
    Without a Destination a call goes to the seed backend (`openrouter.baseUrl`)."""

    base_url: str
    key: str
    model: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float | None = None


def prepare(
    headers: Mapping[str, str],
    capture: Capture,
    body: JSON,
    ctx: TranslationContext,
    dest: Destination | None = None,
) -> Call:
    """Resolve the model, translate the request, pick the key; fill the Capture's upstream side."""
    requested = str(body.get("model") or "")
    model = (dest.model if dest else None) or resolve(requested, ctx.config.mapping())
    base = dest.base_url if dest else ctx.config.base_url
    session_id = headers.get(SESSION_HEADER)
    info = ctx.catalog.lookup(base, model) if ctx.catalog is not None else None
    call = build_call(
        ctx.config,
        body,
        model,
        dest=dest,
        key=dest.key if dest else client_key(headers),
        session_id=session_id,
        info=info,
        input_tokens=quick_estimate(len(capture.request_body)),
        estimate_input=lambda: estimate_input_tokens(body),
        on_usage=_cost_recorder(capture),
    )
    capture.upstream_request, capture.upstream_model = call.upstream.body, model
    capture.translation_changes = list(call.upstream.changes)
    return call


def build_call(
    config: ConfigStore,
    body: JSON,
    model: str,
    *,
    dest: Destination | None = None,
    key: str = "",
    session_id: str | None = None,
    info: ModelInfo | None = None,
    input_tokens: int = 1,
    estimate_input: Callable[[], int] | None = None,
    on_usage: Callable[[JSON], None] | None = None,
) -> Call:
    """`body` translated for `model` at the configured backend, with its URL and headers; `key`
    is the client's own (else the operator's, if the backend is the host it was meant for).
    A routed `dest` brings its own URL and key: the operator's backend key never goes there."""
    base = dest.base_url if dest else config.base_url
    target = target_for(base, model, session_id, info)
    upstream = anthropic_to_openai_request(body, target)
    url = f"{base}/v1/chat/completions"
    key = key if dest else key or config.backend_key(url)
    if not key and target.openrouter:
        raise Unauthorized(
            "no OpenRouter API key: set OPENROUTER_API_KEY for the proxy, or send an sk-or- key"
        )
    stream = StreamContext(
        model=str(body.get("model") or "") or model,
        message_id=f"msg_{uuid.uuid4().hex}",
        input_tokens=input_tokens,
        estimate_input=estimate_input,
        stop_sequences=upstream.stop_sequences,
        tool_names=upstream.tool_names,
        thinking=upstream.thinking,
        output_limit=upstream.output_limit,
        web_search=upstream.web_search,
        on_usage=on_usage,
    )
    headers = upstream_headers(key, config.attribution, session_id if target.openrouter else None)
    if dest is None:
        return Call(url, headers, upstream, stream, model)
    headers.update(dest.headers)
    timeout = None
    if dest.timeout_s is not None:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=dest.timeout_s, sock_read=dest.timeout_s
        )
    return Call(url, headers, upstream, stream, model, timeout)


def target_for(
    base_url: str, model: str, session_id: str | None, info: ModelInfo | None = None
) -> Target:
    """What the backend at `base_url` accepts: OpenRouter's extras, OpenAI's token field, and,
    when its model list is cached, the model's output limit and image support."""
    host = (urlsplit(base_url).hostname or "").lower()
    info = info or ModelInfo()
    return Target(
        model=model,
        openrouter="openrouter" in host,
        cache_control=accepts_cache_control(model),
        session_id=session_id,
        max_tokens_key="max_completion_tokens" if host == "api.openai.com" else "max_tokens",
        max_output=info.max_completion_tokens,
        images=info.images is not False,
    )


def _cost_recorder(capture: Capture) -> Callable[[JSON], None]:
    def record(usage: JSON) -> None:
        cost = upstream_cost(usage)
        if cost is not None:
            capture.upstream_cost_usd = cost

    return record


def client_key(headers: Mapping[str, str]) -> str:
    """An OpenRouter key the client sent itself; an Anthropic key is never passed on."""
    for value in (headers.get("x-api-key", ""), headers.get("authorization", "")):
        token = value.removeprefix("Bearer ").removeprefix("bearer ").strip()
        if token.startswith("sk-or-"):
            return token
    return ""


def upstream_headers(key: str, attribution: Attribution, session_id: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": f"anthropic-proxy/{__version__}",
        "HTTP-Referer": attribution.http_referer,
        "X-Title": attribution.title,
        "X-OpenRouter-Title": attribution.title,
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if session_id:
        headers["x-session-id"] = session_id[:256]
    return headers


async def send(session: aiohttp.ClientSession, call: Call) -> aiohttp.ClientResponse:
    """POST the call; the caller reads the reply and closes it."""
    try:
        data = orjson.dumps(call.upstream.body)
    except orjson.JSONEncodeError as exc:  # e.g. nested deeper than 254 levels
        raise BadRequest(f"the request cannot be translated: {exc}") from exc
    try:
        if call.timeout is not None:
            return await session.post(
                call.url, data=data, headers=call.headers, timeout=call.timeout
            )
        return await session.post(call.url, data=data, headers=call.headers)
    except TimeoutError as exc:
        raise UpstreamTimeout("timed out connecting to the translation backend") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"translation backend unreachable: {exc}") from exc


async def read(upstream: aiohttp.ClientResponse) -> bytes:
    """The whole reply body."""
    try:
        return await upstream.read()
    except TimeoutError as exc:
        raise UpstreamTimeout("the translation backend stopped sending (idle timeout)") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamBroken(f"translation backend connection lost: {exc}") from exc


async def body_bytes(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The backend's body; a failed connection becomes StreamInterrupted for the translator."""
    try:
        async for data in upstream.content.iter_any():
            yield data
    except TimeoutError as exc:
        raise StreamInterrupted("timeout_error", "upstream stopped sending (idle timeout)") from exc
    except aiohttp.ClientError as exc:
        raise StreamInterrupted("api_error", f"upstream connection lost: {exc}") from exc


def reply_object(raw: bytes) -> JSON:
    """A reply body that must be a JSON object; anything else means the backend is broken."""
    return json_object(raw, "the translation backend's reply", UpstreamUnavailable)

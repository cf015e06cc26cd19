"""Turn a Capture into a stored row plus its content-addressed body parts."""

from __future__ import annotations

from typing import Any

import orjson

from anthropic_proxy.exchange import Capture
from anthropic_proxy.masking import mask_headers
from anthropic_proxy.record import attribution, pricing, response, signals
from anthropic_proxy.record.outcome import settle
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.storage import Row
from anthropic_proxy.storage.bodies import Blobs, RecentBodies, compress

SESSION_HEADERS = {
    "session_id": "x-claude-code-session-id",
    "agent_id": "x-claude-code-agent-id",
    "parent_agent_id": "x-claude-code-parent-agent-id",
}
PREVIEW_CHARS = 300
COMPRESSED = ("response_body", "timeline", "upstream_request")
BACKEND_PRICE = "backend usage.cost"


def request_row(capture: Capture, recent: RecentBodies) -> tuple[Row, Blobs, Any]:
    """The part known when the request arrives: enough for a 'pending' row, plus the body's
    content-addressed parts (hashed before scrubbing, so scrubbing runs only on new parts)."""
    headers = mask_headers(capture.request_headers)
    body = parse_request(capture.request_body)
    try:
        ref, refs, blobs = (
            recent.split(capture.request_body, body) if body is not None else (None, [], {})
        )
    except TypeError:  # nested deeper than orjson re-encodes (255+ levels): keep the raw text
        body = capture.request_body.decode("utf-8", "replace")
        ref, refs, blobs = recent.split(capture.request_body, body)
    row: Row = {
        "id": capture.id,
        "started_at": capture.started_at,
        "kind": capture.kind,
        "mode": capture.mode,
        "method": capture.method,
        "path": capture.path,
        "query": capture.query,
        "client_addr": capture.client_addr,
        "model": body.get("model") if isinstance(body, dict) else None,
        "stream": int(bool(body.get("stream"))) if isinstance(body, dict) else 0,
        "state": "pending",
        "request_headers": orjson.dumps(headers).decode(),
        "request_ref": ref,
        "request_bytes": len(capture.request_body),
        "response_bytes": 0,
        "stored_bytes": 0,
        "blob_refs": refs,
        "preview": _preview(body, None),
        **{col: headers.get(name) for col, name in SESSION_HEADERS.items()},
        "project": attribution.project(headers, body),
        "tags": attribution.tags(headers),
    }
    return row, blobs, body


def parse_request(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def finished_row(capture: Capture, row: Row, body: Any, scrubber: Scrubber, pricer: Pricer) -> Row:
    """Add the outcome: response, timings, usage, cost, error. Scrubbing covers everything that
    carries body text: models quote the files (and .env files) they read back."""
    headers = mask_headers(capture.response_headers)
    stream = "text/event-stream" in headers.get("content-type", "")
    outcome = _outcome(capture, headers, stream)
    verdict = settle(capture, outcome, stream)
    outcome.body = scrubber.scrub(outcome.body)
    priced_model = capture.upstream_model if capture.mode == "openrouter" else row["model"]
    miss_reason, missed_tokens = signals.cache_miss(outcome.body)
    row.update(
        finished_at=capture.started_at + (capture.t_end or capture.elapsed()),
        state=verdict.state,
        status=capture.status,
        upstream_model=capture.upstream_model,
        response_headers=orjson.dumps(headers).decode(),
        response_body=_compressed(outcome.body, b"".join(capture.chunks)),
        response_bytes=sum(map(len, capture.chunks)),
        timeline=compress(orjson.dumps(outcome.timeline)) if outcome.timeline else None,
        upstream_request=_compressed(scrubber.scrub(upstream_record(capture))),
        ttfb_ms=_ms(capture.t_headers),
        ttft_ms=outcome.ttft_ms,
        duration_ms=_ms(capture.t_end),
        input_tokens=outcome.usage.get("input_tokens"),
        output_tokens=outcome.usage.get("output_tokens"),
        cache_creation_tokens=outcome.usage.get("cache_creation_input_tokens"),
        cache_read_tokens=outcome.usage.get("cache_read_input_tokens"),
        cost_usd=_cost(capture, priced_model, outcome.usage, pricer),
        calculated_cost_usd=pricer(priced_model, capture.mode, outcome.usage)
        if capture.upstream_cost_usd is not None
        else None,
        price_version=BACKEND_PRICE
        if capture.upstream_cost_usd is not None
        else pricing.PRICE_VERSION,
        stop_reason=outcome.stop_reason,
        upstream_request_id=headers.get("request-id") or headers.get("x-generation-id"),
        error_kind=verdict.error_kind,
        error_message=scrubber.text(verdict.error_message),
        preview=scrubber.text(_preview(body, outcome.body)),
        ratelimit=signals.ratelimit(headers),
        cache_miss_reason=miss_reason,
        cache_missed_tokens=missed_tokens,
    )
    row["stored_bytes"] = sum(len(row[c] or b"") for c in COMPRESSED)
    return row


def upstream_record(capture: Capture) -> Any:
    """The `upstream_request` column: the body sent to the backend together with what the
    translation changed, `{"request": body, "changes": [...]}` (`monitor.queries.detail` splits
    it again; rows written before hold the bare body)."""
    if capture.upstream_request is None:
        return None
    return {"request": capture.upstream_request, "changes": capture.translation_changes}


def _cost(
    capture: Capture, model: str | None, usage: dict[str, int], pricer: Pricer
) -> float | None:
    """The backend's own price (OpenRouter `usage.cost`) when it reported one, else genai-prices."""
    if capture.upstream_cost_usd is not None:
        return capture.upstream_cost_usd
    return pricer(model, capture.mode, usage)


def _outcome(capture: Capture, headers: dict[str, str], stream: bool) -> response.Outcome:
    if stream:
        return response.from_stream(capture.chunks, capture.chunk_times)
    raw = b"".join(capture.chunks)
    try:
        raw = response.decode_body(raw, headers.get("content-encoding", ""))
    except (OSError, ValueError):
        return response.Outcome(body=f"<{len(raw)} undecodable bytes>")
    return response.from_json(raw)


def _compressed(value: Any, raw: bytes = b"") -> bytes | None:
    if value is None:
        return None
    try:
        return compress(orjson.dumps(value))
    except TypeError:  # nested too deeply to re-encode: the raw text instead
        return compress(orjson.dumps(raw.decode("utf-8", "replace") or "<nested too deeply>"))


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 3) if seconds is not None else None


def _preview(request: Any, reply: Any) -> str:
    asked = _last_user_text(request)
    answered = _text_of(reply.get("content")) if isinstance(reply, dict) else ""
    return f"{asked[:PREVIEW_CHARS]}\n→ {answered[:PREVIEW_CHARS]}".strip()


def _last_user_text(request: Any) -> str:
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        return ""
    for message in reversed(request["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return " ".join(t for t in texts if not t.startswith("<system-reminder>"))

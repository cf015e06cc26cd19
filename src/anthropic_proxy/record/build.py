"""Turn a Capture into a stored row plus its content-addressed body parts."""

from __future__ import annotations

from typing import Any

import orjson

from anthropic_proxy.exchange import Capture
from anthropic_proxy.record import attribution, pricing, response, signals
from anthropic_proxy.record.outcome import settle
from anthropic_proxy.record.pricing import Pricer
from anthropic_proxy.record.scrub import Scrubber
from anthropic_proxy.storage import Row, resent
from anthropic_proxy.storage.bodies import Memo, Split, split_body
from anthropic_proxy.storage.packing import Packer

SESSION_HEADERS = {
    "session_id": "x-claude-code-session-id",
    "agent_id": "x-claude-code-agent-id",
    "parent_agent_id": "x-claude-code-parent-agent-id",
}
PREVIEW_CHARS = 300
BACKEND_PRICE = "backend usage.cost"
NO_BODY = Split("", [], None, [], {})


def request_row(capture: Capture, memo: Memo) -> tuple[Row, Split, Any]:
    """The part known when the request arrives: enough for a 'pending' row, plus the body's
    content-addressed parts (hashed before scrubbing, so scrubbing runs only on new parts;
    `memo` holds the hashes of what the conversation's last turn sent).
    A body is split even when it was seen moments ago (a retry): a whole-body hash to spot
    those cost ~240 µs on every 300 KB body Claude Code sends, to save one split now and then."""
    headers = _headers(capture.request_headers)
    body, split = read_request(capture.request_body, memo)
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
        "request_headers": headers,
        "request_ref": split.ref or None,
        "request_bytes": len(capture.request_body),
        "response_bytes": 0,
        "stored_bytes": 0,
        "blob_refs": split.refs,
        "tip": split.tip,
        **{col: headers.get(name) for col, name in SESSION_HEADERS.items()},
        "project": attribution.project(headers, body),
        "tags": attribution.tags(headers),
    }
    return row, split, body


def _headers(journaled: Any) -> dict[str, str]:
    """Masked when journaled: a dict there, or [name, value] pairs in an older journal."""
    return journaled if type(journaled) is dict else dict(journaled)


def read_request(raw: bytes, memo: Memo) -> tuple[Any, Split]:
    """The request body parsed and split (`storage.resent`): text that is not JSON, or JSON
    nested deeper than orjson encodes again (255+ levels), is kept as its text."""
    if not raw:
        return None, NO_BODY
    try:
        body, split = resent.read(raw, memo)
        return body, split if body is not None else NO_BODY
    except (orjson.JSONDecodeError, TypeError):
        text = raw.decode("utf-8", "replace")
        return text, split_body(text, memo)


def finished_row(
    capture: Capture, row: Row, body: Any, scrubber: Scrubber, pricer: Pricer, packer: Packer
) -> Row:
    """Add the outcome: response, timings, usage, cost, error. Scrubbing covers everything that
    carries body text: models quote the files (and .env files) they read back."""
    headers = _headers(capture.response_headers)
    stream = "text/event-stream" in headers.get("content-type", "")
    outcome = _outcome(capture, headers, stream)
    verdict = settle(capture, outcome, stream)
    priced_model = capture.upstream_model if capture.mode == "openrouter" else row["model"]
    miss_reason, missed_tokens = signals.cache_miss(outcome.body)
    row.update(
        finished_at=capture.started_at + (capture.t_end or capture.elapsed()),
        state=verdict.state,
        status=capture.status,
        upstream_model=capture.upstream_model,
        response_headers=headers,
        payload=_payload(row, headers, outcome, capture, scrubber, packer),
        response_bytes=sum(map(len, capture.chunks)),
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
        provider=capture.provider,
        attempts=_attempts(capture.attempts),
    )
    row["stored_bytes"] = len(row["payload"])
    return row


ATTEMPT_FIELDS = ("provider", "model", "key", "status", "error")


def _attempts(attempts: list[Any]) -> str | None:
    """Stored when there is more to say than `provider` and `status`: a failover, or a failure.
    Each attempt: provider, model, key (masked), status, error, t (s after the request), ms."""
    if not attempts or (len(attempts) == 1 and not attempts[0][4]):
        return None
    rows = [
        {
            **dict(zip(ATTEMPT_FIELDS, a[:5], strict=True)),
            "t": round(a[5], 4),
            "ms": round((a[6] - a[5]) * 1000, 1),
        }
        for a in attempts
    ]
    return orjson.dumps(rows).decode()


def pending_row(row: Row, body: Any, scrubber: Scrubber, packer: Packer) -> Row:
    """The row of an exchange still running: the request's preview, and its headers as its
    payload (the body is in content-addressed parts). A finished exchange's preview is made
    once, with the reply, by `finished_row`."""
    preview = scrubber.text(_preview(body, None))
    payload = packer.pack({"request_headers": row["request_headers"]})
    return {**row, "preview": preview, "payload": payload}


def _payload(
    row: Row,
    headers: dict[str, str],
    outcome: response.Outcome,
    capture: Capture,
    scrubber: Scrubber,
    packer: Packer,
) -> bytes:
    """The exchange's own stored record, one compressed blob (see `storage.packing`): headers
    (masked when journaled), the timeline, and the response and upstream request, scrubbed
    together in one pass."""
    content = {
        "response": outcome.body,
        "upstream": upstream_record(capture),
        "events": outcome.events,  # scrubbed with the rest: they hold the reply's text
    }
    try:
        text = orjson.dumps(content)
    except TypeError:  # nested too deeply to re-encode: the raw text instead
        raw = b"".join(capture.chunks).decode("utf-8", "replace") or "<nested too deeply>"
        text = orjson.dumps({"response": raw, "upstream": None})
    return packer.pack_json(
        b'{"request_headers":%b,"response_headers":%b,"timeline":%b,"content":%b}'
        % (
            orjson.dumps(row["request_headers"]),
            orjson.dumps(headers),
            orjson.dumps(outcome.timeline),
            scrubber.scrub_json(text),
        )
    )


def upstream_record(capture: Capture) -> Any:
    """The `upstream_request` column: the body sent to the backend together with what the
    translation changed, `{"request": body, "changes": [...]}` (`monitor.details.detail` splits
    it again; rows written before hold the bare body)."""
    if capture.upstream_request is None:
        return None
    record: dict[str, Any] = {
        "request": capture.upstream_request,
        "changes": capture.translation_changes,
    }
    if capture.upstream_chunks:  # the backend's raw stream, beside the translated events
        record["response"] = capture.upstream_chunks
    return record


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

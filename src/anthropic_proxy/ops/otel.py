"""OpenTelemetry: one span per exchange, GenAI semantic conventions, exported over OTLP/HTTP.

Off unless `--otel-endpoint`/`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and then it needs the `[otel]`
extra. Spans are built from recorded rows (a recorder listener, the writer thread) with the
exchange's real start and end times, so tracing adds nothing to the hot path; the SDK's batch
processor exports them from its own thread. The tracer provider belongs to the app, not to the
process-global API, so two apps in one process (tests) export to their own endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from anthropic_proxy.exchange import FAILED
from anthropic_proxy.storage import Row

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger("anthropic_proxy.otel")
PROVIDERS = {"anthropic": "anthropic", "openrouter": "openai"}
"""gen_ai.provider.name by proxy mode: translation speaks the OpenAI chat API to the backend."""
USAGE = {
    "gen_ai.usage.input_tokens": "input_tokens",
    "gen_ai.usage.output_tokens": "output_tokens",
    "gen_ai.usage.cache_read.input_tokens": "cache_read_tokens",
    "gen_ai.usage.cache_creation.input_tokens": "cache_creation_tokens",
}


def traces_url(endpoint: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the spec appends /v1/traces to it."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def attributes(row: Row, upstream: str) -> dict[str, Any]:
    """The span's attributes: GenAI conventions plus the proxy's own ids."""
    mode = str(row.get("mode") or "anthropic")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat" if row.get("kind") == "messages" else str(row.get("kind")),
        "gen_ai.provider.name": PROVIDERS.get(mode, mode),
        "gen_ai.system": PROVIDERS.get(mode, mode),  # the older name, still read by many backends
        "gen_ai.request.model": row.get("model"),
        "gen_ai.response.model": row.get("upstream_model") or row.get("model"),
        "gen_ai.response.id": row.get("upstream_request_id"),
        "gen_ai.conversation.id": row.get("session_id"),
        "http.request.method": row.get("method"),
        "http.response.status_code": row.get("status"),
        "url.path": row.get("path"),
        "server.address": urlsplit(upstream).hostname,
        "anthropic_proxy.exchange_id": row.get("id"),
        "anthropic_proxy.state": row.get("state"),
        "anthropic_proxy.stream": bool(row.get("stream")),
        "anthropic_proxy.cost_usd": row.get("cost_usd"),
    }
    if row.get("stop_reason"):
        attrs["gen_ai.response.finish_reasons"] = [str(row["stop_reason"])]
    if row.get("ttft_ms") is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = row["ttft_ms"] / 1000
    for name, column in USAGE.items():
        attrs[name] = row.get(column)
    if row.get("state") in FAILED:
        attrs["error.type"] = row.get("error_kind") or row.get("state")
    return {k: v for k, v in attrs.items() if v is not None}


def span_name(row: Row) -> str:
    if row.get("kind") == "messages":
        return f"chat {row.get('model') or ''}".strip()
    return f"{row.get('method')} {row.get('path')}"


class Tracing:
    """A recorder listener exporting each finished exchange as one CLIENT span."""

    def __init__(self, endpoint: str, service_name: str, upstream: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.upstream = upstream
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": service_name})
        )
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint), timeout=10)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self.tracer: Tracer = self.provider.get_tracer("anthropic_proxy")

    def on_rows(self, rows: Sequence[Row]) -> None:
        for row in rows:
            if row.get("state") not in (None, "pending"):
                self._span(row)

    def _span(self, row: Row) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start_ns = int(row["started_at"] * 1e9)
        end = row.get("finished_at") or row["started_at"] + (row.get("duration_ms") or 0) / 1000
        span = self.tracer.start_span(
            span_name(row),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes=attributes(row, self.upstream),
        )
        if row.get("state") in FAILED:
            span.set_status(Status(StatusCode.ERROR, str(row.get("error_message") or "")[:200]))
        span.end(end_time=max(start_ns, int(end * 1e9)))

    def shutdown(self) -> None:
        """Flush what is batched, then stop the exporter (blocking: call from a thread)."""
        self.provider.shutdown()


def tracing(endpoint: str, service_name: str, upstream: str) -> Tracing | None:
    """A Tracing when an endpoint is set and the [otel] extra is installed, else None."""
    if not endpoint:
        return None
    try:
        return Tracing(endpoint, service_name, upstream)
    except ImportError as exc:
        log.warning(
            "OTel endpoint set but %s is missing: pip install 'anthropic-proxy[otel]'", exc.name
        )
        return None

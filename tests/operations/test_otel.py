"""OpenTelemetry: one span per exchange, GenAI conventions, to an in-process OTLP/HTTP collector."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block, usage
from tests.operations.helpers import ask, receiver

trace_service = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="the [otel] extra is not installed",
)


def spans(bodies: list[bytes]) -> list[Any]:
    out = []
    for body in bodies:
        request = trace_service.ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                out.extend((resource, span) for span in scope.spans)
    return out


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            [v.string_value for v in value.array_value.values]
            if kind == "array_value"
            else getattr(value, kind)
        )
    return out


async def test_one_genai_span_per_exchange(start_proxy: StartProxy, fake: FakeAnthropic) -> None:
    async with receiver() as collector:
        proxy = await start_proxy(
            upstream_url=fake.url, otel_endpoint=collector.url, otel_service_name="proxy-under-test"
        )
        fake.enqueue(message(text_block("hi"), usage_=usage(input_tokens=11, output_tokens=7)))
        await ask(proxy, stream=True, **{"x-claude-code-session-id": "sess-9"})
        [row] = await proxy.rows(1, kind="messages")
        await collector.wait(1)
        await asyncio.sleep(0.2)
    assert {path for path, _, _ in collector.posts} == {"/v1/traces"}
    assert collector.posts[0][1]["Content-Type"] == "application/x-protobuf"
    [(resource, span)] = spans([body for _, _, body in collector.posts])
    service = {kv.key: kv.value.string_value for kv in resource.resource.attributes}
    assert service["service.name"] == "proxy-under-test"
    got = attrs(span)
    assert span.name == "chat claude-sonnet-4-6" and span.kind == span.SPAN_KIND_CLIENT
    assert got["gen_ai.operation.name"] == "chat"
    assert got["gen_ai.provider.name"] == "anthropic"
    assert got["gen_ai.request.model"] == "claude-sonnet-4-6"
    assert got["gen_ai.usage.input_tokens"] == 11 and got["gen_ai.usage.output_tokens"] == 7
    assert got["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert got["gen_ai.conversation.id"] == "sess-9"
    assert got["http.response.status_code"] == 200
    assert got["anthropic_proxy.exchange_id"] == row["id"]
    assert span.start_time_unix_nano == int(row["started_at"] * 1e9)
    assert span.end_time_unix_nano > span.start_time_unix_nano


async def test_off_by_default(start_proxy: StartProxy, fake: FakeAnthropic) -> None:
    from anthropic_proxy.ops import OPERATIONS

    proxy = await start_proxy(upstream_url=fake.url)
    assert proxy.runner.app[OPERATIONS].tracing is None

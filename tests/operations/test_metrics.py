"""GET /metrics: Prometheus text fed from recorded exchanges and the recorder's health."""

from __future__ import annotations

import aiohttp
import anthropic
import pytest
from prometheus_client.parser import text_string_to_metric_families

from anthropic_proxy.ops.metrics import MAX_MODELS, Metrics
from tests.conftest import StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, error_reply, message, text_block, usage
from tests.operations.helpers import ask


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_exchanges_tokens_latency_and_errors(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    fake.enqueue(message(text_block("a"), usage_=usage(input_tokens=10, output_tokens=5)))
    fake.enqueue(message(text_block("b"), usage_=usage(input_tokens=20, output_tokens=7)))
    fake.enqueue(error_reply(529))
    await ask(proxy)
    await ask(proxy, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        await ask(proxy)
    await proxy.rows(3, kind="messages")
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        got = samples(await response.text())
    model = (("mode", "anthropic"), ("model", "claude-sonnet-4-6"))
    assert (
        got[("anthropic_proxy_exchanges_total", (*model, ("state", "success"), ("status", "200")))]
        == 2
    )
    assert (
        got[("anthropic_proxy_exchanges_total", (*model, ("state", "error"), ("status", "529")))]
        == 1
    )
    assert got[("anthropic_proxy_tokens_total", (("kind", "input"), *model))] == 30
    assert got[("anthropic_proxy_tokens_total", (("kind", "output"), *model))] == 12
    assert got[("anthropic_proxy_exchange_duration_seconds_count", model)] == 3
    assert got[("anthropic_proxy_time_to_first_token_seconds_count", model)] >= 1
    assert got[("anthropic_proxy_cost_usd_total", model)] > 0
    assert got[("anthropic_proxy_upstream_errors_total", (("type", "overloaded_error"),))] == 1
    assert got[("anthropic_proxy_recorder_queue_depth", ())] == 0
    assert got[("anthropic_proxy_recorder_dropped_total", ())] == 0
    assert got[("anthropic_proxy_recorder_written_total", ())] >= 3


def test_model_label_is_capped_and_registries_are_per_app() -> None:
    a, b = Metrics(), Metrics()
    for i in range(MAX_MODELS + 50):
        a.on_rows([{"state": "success", "model": f"m{i}", "mode": "anthropic", "status": 200}])
    text = a.render().decode()
    assert 'model="other"' in text and f'model="m{MAX_MODELS + 10}"' not in text
    assert "anthropic_proxy_exchanges_total{" not in b.render().decode()


async def test_metrics_need_the_token_off_loopback(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url, host="0.0.0.0", auth_token="s3cret-token")
    async with aiohttp.ClientSession() as http:
        async with http.get(proxy.url + "/api/monitor/stats") as probe:
            if probe.status == 404:
                pytest.skip("the monitor's security middleware is not wired into create_app yet")
        async with http.get(proxy.url + "/metrics") as response:
            assert response.status == 401
        bearer = {"Authorization": "Bearer s3cret-token"}
        async with http.get(proxy.url + "/metrics", headers=bearer) as response:
            assert response.status == 200

"""Fixtures for the monitor tests: the real app with the monitor wired in, and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic

StartMonitor = Callable[..., Awaitable[RunningProxy]]


@pytest.fixture
def start_monitor(start_proxy: StartProxy) -> StartMonitor:
    """The full app (proxy, config API, monitor), started like every other test's."""
    return start_proxy


@pytest.fixture
async def mon(start_monitor: StartMonitor, fake: FakeAnthropic) -> RunningProxy:
    return await start_monitor(upstream_url=fake.url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


BASE_TIME = 1_700_000_000.0


def make_row(i: int, **overrides: Any) -> dict[str, Any]:
    """A finished exchange row for direct store writes (test setup only)."""
    row: dict[str, Any] = {
        "id": f"ex_test{i:08d}",
        "started_at": BASE_TIME + i,
        "finished_at": BASE_TIME + i + 0.5,
        "kind": "messages",
        "mode": "anthropic",
        "method": "POST",
        "path": "/v1/messages",
        "query": "",
        "model": "claude-sonnet-4-6",
        "stream": 1,
        "state": "success",
        "status": 200,
        "request_headers": "{}",
        "response_headers": "{}",
        "request_bytes": 100,
        "response_bytes": 200,
        "duration_ms": 500.0,
        "ttft_ms": 100.0,
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_creation_tokens": 0,
        "cost_usd": 0.001,
        "preview": f"question {i}\n→ answer {i}",
        "stored_bytes": 0,
    }
    row.update(overrides)
    return row


async def write_rows(proxy: RunningProxy, rows: list[dict[str, Any]]) -> None:
    import asyncio

    await asyncio.to_thread(proxy.state.store.write, rows, {})


MESSAGES_HEADERS = {
    "x-api-key": "sk-ant-test-key-0000000000000000",
    "anthropic-version": "2023-06-01",
}


async def send(
    http: aiohttp.ClientSession, proxy: RunningProxy, body: dict[str, Any], **headers: str
) -> bytes:
    """One real request through the proxy's /v1/messages."""
    async with http.post(
        proxy.url + "/v1/messages", json=body, headers={**MESSAGES_HEADERS, **headers}
    ) as response:
        return await response.read()


def ask(
    text: str, model: str = "claude-sonnet-4-6", stream: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }

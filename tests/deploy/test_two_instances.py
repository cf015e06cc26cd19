"""Two real proxy processes sharing one PostgreSQL schema: every instance sees every exchange,
live events cross instances (LISTEN/NOTIFY) and a config change on one reaches the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from tests.conftest import API_KEY
from tests.deploy.procs import PYTHON, ROOT, Proc, clean_env, free_port
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.pg import fresh_schema, url_for

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pair(tmp_path: Path, fake: FakeAnthropic) -> AsyncIterator[list[str]]:
    """Two instances (A, B) on one schema; yields their base URLs."""
    with fresh_schema() as schema:
        procs, urls = [], []
        for name in ("a", "b"):
            port = free_port()
            argv = [PYTHON, "-m", "anthropic_proxy", "--port", str(port), "--upstream", fake.url,
                    "--database-url", url_for(schema), "--data-dir", str(tmp_path / name)]  # fmt: skip
            procs.append(Proc(argv, clean_env(), ROOT, tmp_path / f"{name}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        try:
            await asyncio.gather(*(p.wait_healthy(u) for p, u in zip(procs, urls, strict=True)))
            yield urls
        finally:
            for p in procs:
                p.stop()


async def ask(url: str, text: str) -> str:
    sdk = anthropic.AsyncAnthropic(base_url=url, api_key=API_KEY, max_retries=0)
    reply = await sdk.messages.create(
        model="claude-sonnet-4-6", max_tokens=32, messages=[{"role": "user", "content": text}]
    )
    return reply.id


async def listed(http: aiohttp.ClientSession, url: str, n: int) -> list[dict[str, Any]]:
    for _ in range(100):
        async with http.get(url + "/api/monitor/requests?kind=messages") as response:
            body = await response.json()
        if body["total"] >= n:
            return list(body["data"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} lists {body['total']} exchanges, expected {n}")


async def test_each_instance_lists_every_exchange(pair: list[str]) -> None:
    a, b = pair
    await ask(a, "through A")
    await ask(b, "through B")
    async with aiohttp.ClientSession() as http:
        seen = [{r["id"] for r in await listed(http, url, 2)} for url in pair]
        assert seen[0] == seen[1] and len(seen[0]) == 2
        async with http.get(b + "/api/monitor/stats") as response:
            assert (await response.json())["totalRequests"] >= 2


async def test_live_events_reach_the_other_instance(pair: list[str]) -> None:
    a, b = pair
    async with (
        aiohttp.ClientSession() as http,
        http.get(b + "/api/monitor/stream?kind=messages") as stream,
    ):
        assert stream.status == 200
        await ask(a, "watched from B")

        async def next_request() -> dict[str, Any]:
            async for line in stream.content:
                if line.startswith(b"data: "):
                    message = orjson.loads(line[6:])
                    if message["type"] == "request" and message["request"]["state"] != "pending":
                        return dict(message["request"])
            raise AssertionError("stream ended")

        event = await asyncio.wait_for(next_request(), 10)
    assert event["preview"] and "watched from B" in event["preview"]


async def test_config_change_on_one_reaches_the_other(pair: list[str]) -> None:
    a, b = pair
    patch = {"openrouter": {"defaultModel": "vendor/shared-model", "modelMapping": {"fast": "x/y"}}}
    async with aiohttp.ClientSession() as http:
        async with http.post(a + "/api/config", json=patch) as response:
            assert response.status == 200, await response.text()
        for _ in range(100):
            async with http.get(b + "/api/config") as response:
                router = (await response.json())["openrouter"]
            if router["defaultModel"] == "vendor/shared-model":
                break
            await asyncio.sleep(0.1)
        assert router["defaultModel"] == "vendor/shared-model"
        assert router["modelMapping"]["fast"] == "x/y"
        # Deleting a family on B removes it on A too (the shared value replaces, not merges).
        delete = {"openrouter": {"modelMapping": {"fast": None}}}
        async with http.post(b + "/api/config", json=delete) as response:
            assert response.status == 200, await response.text()
        for _ in range(100):
            async with http.get(a + "/api/config") as response:
                mapping = (await response.json())["openrouter"]["modelMapping"]
            if "fast" not in mapping:
                break
            await asyncio.sleep(0.1)
        assert "fast" not in mapping

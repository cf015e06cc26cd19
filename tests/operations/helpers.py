"""A loopback HTTP receiver for webhooks and OTLP exports, and an SDK request helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
from aiohttp import web

from tests.conftest import API_KEY, RunningProxy


@dataclass
class Receiver:
    url: str = ""
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        return web.json_response({})

    async def wait(self, n: int, timeout: float = 10.0) -> None:
        async def enough() -> None:
            while len(self.posts) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield rec
    finally:
        await runner.cleanup()


async def ask(proxy: RunningProxy, stream: bool = False, **headers: str) -> Any:
    sdk = anthropic.AsyncAnthropic(
        base_url=proxy.url, api_key=API_KEY, max_retries=0, default_headers=headers
    )
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        async with sdk.messages.stream(**request) as s:
            return await s.get_final_message()
    return await sdk.messages.create(**request)

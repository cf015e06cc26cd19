"""Hardening fixtures: the real app (monitor wired in) on loopback, in both modes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from anthropic_proxy.app import create_app
from anthropic_proxy.monitor import api as monitor_api
from anthropic_proxy.settings import load
from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI

BACKEND_KEY = "sk-or-v1-hardening-backend-" + "b" * 40 + "-TAILB7"
Start = Callable[..., Awaitable[RunningProxy]]


def build_app(settings: Any) -> web.Application:
    """create_app, plus the monitor's routes if the app does not wire them in yet."""
    app = create_app(settings)
    if not any(getattr(r, "canonical", None) == "/monitor" for r in app.router.resources()):
        monitor_api.setup(app, settings)
    return app


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start the full app (proxy + config API + monitor); stopped at teardown."""
    started: list[RunningProxy] = []

    async def run(**overrides: Any) -> RunningProxy:
        cli = {"host": "127.0.0.1", "port": 0, "data_dir": str(tmp_path / "data"), **overrides}
        settings = load(cli, environ={}, env_file=tmp_path / "no.env")
        runner = web.AppRunner(build_app(settings), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        proxy = RunningProxy(f"http://127.0.0.1:{port}", runner, settings)
        started.append(proxy)
        return proxy

    yield run
    for proxy in started:
        await proxy.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture(params=["anthropic", "openrouter"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def mode_settings(mode: str, fake: FakeAnthropic, oai: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    """Settings for either mode; pass-through goes to `fake`, translation to `oai`."""
    if mode == "openrouter":
        return {
            "mode": "openrouter",
            "upstream_url": fake.url,
            "openrouter_base_url": oai.url,
            "openrouter_api_key": BACKEND_KEY,
            **extra,
        }
    return {"upstream_url": fake.url, **extra}


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` every 10 ms, at most `timeout` seconds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)

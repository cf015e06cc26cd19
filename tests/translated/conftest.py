"""The real app in translation mode, on loopback, against a fake OpenAI-compatible backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.openai_upstream import FakeOpenAI

BACKEND_KEY = "sk-or-v1-test-backend-key-0123456789"


@pytest.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def translating(start_proxy: StartProxy, oai: FakeOpenAI) -> RunningProxy:
    return await start_proxy(
        mode="openrouter", openrouter_base_url=oai.url, openrouter_api_key=BACKEND_KEY
    )


@pytest.fixture
async def client(translating: RunningProxy) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(
        base_url=translating.url, api_key="sk-ant-client-key", max_retries=0
    )
    yield sdk
    await sdk.close()

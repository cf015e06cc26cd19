from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.usage.traffic import Upstream


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def upstream(fake: FakeAnthropic) -> Upstream:
    return Upstream(fake)

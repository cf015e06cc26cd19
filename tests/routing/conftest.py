"""Fixtures for the routing tests: a second fake Anthropic upstream beside the root `fake`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic


@pytest.fixture
async def second() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server

"""Cost budgets: the API shows spend against limits; crossing one POSTs a webhook once."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import aiohttp
import pytest

from anthropic_proxy.ops.budget import period_bounds
from tests.conftest import StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.operations.helpers import ask, receiver


def test_periods_are_utc_days_and_months() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    start, end, label = period_bounds("monthly", now)
    assert label == "2026-12" and end == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    start, end, label = period_bounds("daily", now)
    assert (label, end - start) == ("2026-12-31", 86400)


async def test_crossing_budgets_posts_each_webhook_once(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    async with receiver() as hook:
        proxy = await start_proxy(
            upstream_url=fake.url,
            budget_daily_usd=0.0001,
            budget_monthly_usd=1.0,
            session_budget_monthly_usd=0.0001,
            budget_webhook_url=hook.url + "/alerts",
        )
        await ask(proxy, **{"x-claude-code-session-id": "sess-1"})
        await hook.wait(2)
        await ask(proxy, **{"x-claude-code-session-id": "sess-1"})  # still over: no new alert
        await proxy.rows(2, kind="messages")
        await asyncio.sleep(1.5)
        alerts = sorted((json.loads(body) for _, _, body in hook.posts), key=lambda a: a["scope"])
        assert [(a["scope"], a["period"], a["sessionId"]) for a in alerts] == [
            ("proxy", "daily", None),
            ("session", "monthly", "sess-1"),
        ]
        assert alerts[0]["event"] == "budget.exceeded" and alerts[0]["spentUsd"] >= 0.0001
        assert hook.posts[0][0] == "/alerts"
        async with (
            aiohttp.ClientSession() as http,
            http.get(proxy.url + "/api/monitor/budget?session=sess-1") as response,
        ):
            body = await response.json()
        daily, monthly = body["proxy"]["daily"], body["proxy"]["monthly"]
        assert daily["exceeded"] is True and daily["limitUsd"] == 0.0001
        assert monthly["exceeded"] is False and 0 < monthly["percent"] < 100
        assert body["session"]["monthly"]["exceeded"] is True
        assert body["sessions"]["monthly"]["top"][0] == {
            "id": "sess-1",
            "spentUsd": body["session"]["monthly"]["spentUsd"],
            "exceeded": True,
        }
        assert body["webhookConfigured"] is True


async def test_without_budgets_the_api_reports_spend_only(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    await ask(proxy)
    await proxy.rows(1, kind="messages")
    async with (
        aiohttp.ClientSession() as http,
        http.get(proxy.url + "/api/monitor/budget") as response,
    ):
        body = await response.json()
    assert body["proxy"]["daily"]["spentUsd"] > 0 and "limitUsd" not in body["proxy"]["daily"]
    assert body["webhookConfigured"] is False


async def test_crossing_without_a_webhook_logs_one_warning(
    start_proxy: StartProxy, fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="anthropic_proxy.budget")
    proxy = await start_proxy(upstream_url=fake.url, budget_daily_usd=0.0001)
    await ask(proxy, **{"x-claude-code-session-id": "sess-2"})
    await proxy.rows(1, kind="messages")
    deadline = asyncio.get_running_loop().time() + 10
    while not caplog.records and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await ask(proxy, **{"x-claude-code-session-id": "sess-2"})  # still over: no second line
    await proxy.rows(2, kind="messages")
    await asyncio.sleep(1.5)
    lines = [r.getMessage() for r in caplog.records if r.name == "anthropic_proxy.budget"]
    assert len(lines) == 1 and lines[0].startswith("budget crossed: proxy daily budget $0.00 for ")

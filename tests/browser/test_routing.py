"""The routing section of /config in Debian chromium: a route is added, dragged to the top,
saved, and the next request follows it; providers show their keys and can be tested."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
from playwright.async_api import Page, expect

from tests.browser.conftest import Console, shot
from tests.conftest import API_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block
from tests.monitor.conftest import StartMonitor


async def test_a_route_dragged_to_the_top_serves_the_next_request(
    start_monitor: StartMonitor,
    fake: FakeAnthropic,
    tmp_path: Path,
    page: tuple[Page, Console],
) -> None:
    p, console = page
    async with FakeAnthropic() as second:
        data = tmp_path / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = {"providers": [{"name": "cheap", "baseUrl": second.url}]}
        (data / "config.json").write_text(json.dumps(config))
        mon = await start_monitor(upstream_url=fake.url)
        await p.goto(mon.url + "/config")
        cards = p.locator("#routes .route-card")
        await expect(cards).to_have_count(1)  # the preset: proxyMode anthropic
        await expect(p.locator('.provider-row[data-provider="cheap"]')).to_contain_text(second.url)
        await p.locator('.provider-row[data-provider="cheap"] .test-provider').click()
        await expect(
            p.locator('.provider-row[data-provider="cheap"] [role=status]')
        ).to_contain_text("✓")

        await p.click("#add-route")
        await expect(cards).to_have_count(2)
        new = cards.nth(1)
        await new.locator(".route-name").fill("haiku to cheap")
        await new.locator(".route-models").fill("haiku")
        await new.locator(".target select").select_option("cheap")
        await new.locator(".route-head .handle").drag_to(cards.nth(0).locator(".route-head"))
        await expect(cards.nth(0).locator(".route-name")).to_have_value("haiku to cheap")
        await p.click("#save-routes")
        await expect(p.locator("#routes-result")).to_contain_text("saved")
        await shot(p, "config-routing")

        second.enqueue(message(text_block("from cheap")))
        sdk = anthropic.AsyncAnthropic(base_url=mon.url, api_key=API_KEY, max_retries=0)
        reply: Any = await sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content[0].text == "from cheap"
        stored = json.loads((data / "config.json").read_text())
        assert [r["name"] for r in stored["routes"]] == ["haiku to cheap", "anthropic (proxyMode)"]
        assert console.errors == []

"""Dashboard details a user notices: dates in the list, locale formats, plurals, phone width."""

from __future__ import annotations

import itertools
import re
import time

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Console, shot
from tests.browser.test_dashboard import XSS, assert_clean, open_monitor
from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block, tool_use_block
from tests.fakes.openai_upstream import FakeOpenAI
from tests.monitor.conftest import MESSAGES_HEADERS, StartMonitor, ask, make_row, send, write_rows

pytestmark = pytest.mark.browser
DAY = 86400


async def test_list_shows_the_date_when_not_today_in_the_page_language(
    mon: RunningProxy, page: tuple[Page, Console]
) -> None:
    now = time.time()
    await write_rows(mon, [make_row(1, started_at=now - 3 * DAY), make_row(2, started_at=now - 5)])
    p, console = page
    await open_monitor(p, mon)
    await expect(p.locator("#rows tr[data-id]")).to_have_count(2)
    today, older = (
        p.locator("#rows tr[data-id] td.when").nth(0),
        p.locator("#rows tr[data-id] td.when").nth(1),
    )
    older_en = await older.text_content()
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    assert older_en and any(m in older_en for m in months), older_en
    today_en = await today.text_content() or ""
    assert not any(m in today_en for m in months), today_en
    await p.click("#lang-toggle")
    await expect(p.locator("[data-view=sessions]")).to_have_text("会话")
    await p.reload()
    await expect(p.locator("#rows tr[data-id]")).to_have_count(2)
    older_zh = await p.locator("#rows tr[data-id] td.when").nth(1).text_content()
    today_zh = await p.locator("#rows tr[data-id] td.when").nth(0).text_content()
    assert older_zh and "月" in older_zh and "AM" not in older_zh and "PM" not in older_zh
    assert today_zh and "AM" not in today_zh and "PM" not in today_zh and "月" not in today_zh
    assert_clean(console)


async def test_one_tool_is_singular(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    tool = {"name": "Read", "description": "read a file", "input_schema": {"type": "object"}}
    await send(http, mon, ask("use a tool", tools=[tool]))
    await mon.rows(1)
    p, console = page
    await open_monitor(p, mon)
    await p.click("#rows tr[data-id]")
    await p.click("[data-tab=conversation]")
    await expect(p.locator(".tools-list summary")).to_have_text("1 tool offered")
    assert_clean(console)


async def test_phone_width_list_keeps_badges_whole(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, browser: Browser
) -> None:
    await send(http, mon, ask("small screen", model="claude-sonnet-4-5-20250929"))
    await mon.rows(1)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    p = await context.new_page()
    console = Console(p)
    try:
        await open_monitor(p, mon)
        await expect(p.locator("#rows tr[data-id]")).to_have_count(1)
        wrap = p.locator(".table-wrap")
        await shot(p, "monitor-phone")
        overflow = await wrap.evaluate("w => w.scrollWidth - w.clientWidth")
        assert overflow <= 0, f"the list scrolls sideways by {overflow}px"
        badge = await p.locator("#rows .badge").first.bounding_box()
        assert badge is not None and badge["x"] + badge["width"] <= 390
        visible = await p.locator(".requests thead th").evaluate_all(
            "ths => ths.filter(th => getComputedStyle(th).display !== 'none').map(th => th.dataset.i18n)"
        )
        assert visible == ["time", "model", "state", "cost"]
        await shot(p, "monitor-phone")
        assert_clean(console)
    finally:
        await context.close()


async def test_storage_used_card(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    await send(http, mon, ask("stored"))
    await mon.rows(1)
    p, console = page
    await open_monitor(p, mon)
    card = p.locator("#card-storage")
    await expect(card).to_contain_text("Storage used")
    await expect(card.locator(".card-value")).to_have_text(re.compile(r"^\d+(\.\d)? (B|KB|MB|GB)$"))
    await expect(card).to_contain_text("no size limit")
    assert_clean(console)


async def test_analysis_report_cards_and_aligned_breakdown(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    fake.enqueue(
        message(text_block("Reading it now."), tool_use_block("Read", {"file_path": "a.py"}))
    )
    await send(http, mon, ask("what is in a.py? " + XSS, stream=False))
    async with http.post(
        mon.url + "/v1/messages/count_tokens", json=ask("count me"), headers=MESSAGES_HEADERS
    ):
        pass
    await mon.rows(2)
    p, console = page
    await p.goto(mon.url + "/api/monitor/analyze")
    card = p.locator(".request-card").first
    await expect(card).to_contain_text("what is in a.py?")
    await expect(card).to_contain_text("Reading it now.")
    await expect(card.locator("code")).to_have_text("Read")
    await expect(card).to_contain_text(XSS)  # recorded content stays text
    href = await card.locator("a.view-full").get_attribute("href")
    assert href and href.startswith("/monitor#ex_")
    # the three breakdown tables: their count columns start at the same x
    xs = await p.locator(".breakdown").evaluate_all(
        "ts => ts.map(t => t.querySelector('thead th:nth-child(2)').getBoundingClientRect().x - t.getBoundingClientRect().x)"
    )
    assert len(xs) == 3 and max(xs) - min(xs) < 1, xs
    aligns = await p.locator(".breakdown td.num").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td).textAlign)"
    )
    assert aligns and set(aligns) == {"right"}
    await shot(p, "analysis-report")
    await p.click("a.view-full >> nth=0")
    await expect(p.locator("#detail")).to_be_visible()
    assert_clean(console)


async def no_overlaps(p: Page, selector: str) -> None:
    boxes = [b for b in [await e.bounding_box() for e in await p.locator(selector).all()] if b]
    for a, b in itertools.combinations(boxes, 2):
        apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                 or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip
        assert apart, (a, b)


async def test_stream_view_has_a_time_axis_and_opens_each_event(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    await send(http, mon, ask("stream me"))
    [row] = await mon.rows(1)
    p, console = page
    await open_monitor(p, mon)
    await p.click("#rows tr[data-id]")
    await p.click("[data-tab=waterfall]")
    ticks = await p.locator("svg.waterfall text.axis:not(.wf-label)").all_text_contents()
    assert len(ticks) >= 3 and ticks[0] == "0 ms" and all(t.endswith(("ms", "s")) for t in ticks)
    await no_overlaps(p, "svg.waterfall text.wf-label")
    events = p.locator(".event-list details.event")
    detail = await (await http.get(f"{mon.url}/api/monitor/requests/{row['id']}")).json()
    await expect(events).to_have_count(len(detail["timeline"]))
    text_event = events.filter(has_text="text_delta").first
    await text_event.locator("summary").click()
    await expect(text_event.locator("pre")).to_contain_text('"type": "text_delta"')
    await shot(p, "stream-view")
    assert_clean(console)


async def test_stream_view_shows_the_backends_raw_chunks_in_translation_mode(
    start_monitor: StartMonitor,
    fake: FakeAnthropic,
    http: aiohttp.ClientSession,
    page: tuple[Page, Console],
) -> None:
    async with FakeOpenAI() as backend:
        mon = await start_monitor(
            mode="openrouter", upstream_url=fake.url, openrouter_base_url=backend.url,
            openrouter_api_key="sk-or-test-" + "k" * 30,
        )  # fmt: skip
        await send(http, mon, ask("translate me"))
        await mon.rows(1)
        p, console = page
        await open_monitor(p, mon)
        await p.click("#rows tr[data-id]")
        await p.click("[data-tab=waterfall]")
        columns = p.locator(".stream-columns > div")
        await expect(columns).to_have_count(2)
        await expect(columns.nth(0).locator("h4")).to_contain_text("Backend stream")
        first = columns.nth(0).locator("details.event").first
        await first.locator("summary").click()
        await expect(first.locator("pre")).to_contain_text("data:")
        await expect(
            columns.nth(1).locator("details.event").filter(has_text="message_start")
        ).to_have_count(1)
        await shot(p, "stream-view-translation")
        assert_clean(console)

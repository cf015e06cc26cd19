"""Usage insight in Debian chromium: quota gauges, budget banner, the Usage view's tables,
the context bar in the detail view and a session's context growth, with the right numbers."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Console, shot
from tests.browser.test_dashboard import assert_clean, open_monitor
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.monitor.conftest import StartMonitor
from tests.usage.traffic import Session, Upstream, send, unified

pytestmark = pytest.mark.browser


async def test_gauges_budgets_usage_tables_and_context_bar(
    start_monitor: StartMonitor,
    fake: FakeAnthropic,
    http: aiohttp.ClientSession,
    page: tuple[Page, Console],
) -> None:
    mon = await start_monitor(
        upstream_url=fake.url, budget_daily_usd=0.0001, budget_monthly_usd=1000
    )
    upstream = Upstream(fake)
    one = Session("sess-ui-1", "/home/me/shop", headers={"x-proxy-tags": "billing"})
    two = Session("sess-ui-2", "/home/me/blog")
    sent = []
    util5 = [0.1, 0.3, 0.35, 0.45, 0.5]  # the 5h utilization each response reports
    for i, who in enumerate([one, two, one, two, one]):
        usage = {"input_tokens": 100 + i, "output_tokens": 10 * (i + 1),
                 "cache_creation_input_tokens": 50, "cache_read_input_tokens": 3000 * (i + 1)}  # fmt: skip
        tool = ["mcp__github__search_issues", "Bash", "Read", None, "mcp__postgres__query"][i]
        sent.append(await send(http, mon, upstream, who, usage, unified(util5[i], 0.2), tool=tool))
    rows = await mon.rows(5)
    p, console = page
    await open_monitor(p, mon)

    # Quota gauges: the latest reading per window.
    five = p.locator('.gauge[data-window="5h"]')
    await expect(five).to_contain_text("50%", timeout=10_000)
    await expect(five).to_contain_text("allowed")
    await expect(p.locator('.gauge[data-window="7d"]')).to_contain_text("20%")
    assert await five.locator("meter").get_attribute("value") == "0.5"
    # Drawn under the meter: each project's part of the window, as the traffic caused it. A
    # reading is the window before its request; the rise to the next reading is that request's
    # doing (each one alone between two readings here); the first reading's 0.1 came earlier.
    caused = {"/home/me/shop": 0.0, "/home/me/blog": 0.0}
    for i in range(len(sent) - 1):
        caused[sent[i].project] += util5[i + 1] - util5[i]
    pieces = five.locator(".quota-shares span[data-project]")
    await expect(pieces).to_have_count(2)
    drawn = await pieces.evaluate_all(
        "els => els.map(e => [e.dataset.project, +e.dataset.utilization, +e.dataset.share, e.style.width])")  # fmt: skip
    assert [d[0] for d in drawn] == ["/home/me/shop", "/home/me/blog"]  # the larger part first
    for project, utilization, share, width in drawn:
        assert utilization == pytest.approx(caused[project], abs=1e-6)
        assert share == pytest.approx(caused[project] / util5[-1], abs=1e-4)
        assert float(width.removesuffix("%")) == pytest.approx(100 * caused[project], abs=1e-3)
    assert await five.locator(".quota-shares .rest").evaluate(
        "e => parseFloat(e.style.width)"
    ) == pytest.approx(100 * (util5[-1] - sum(caused.values())))
    await expect(five.locator(".quota-legend")).to_contain_text("shop 60%")
    await expect(five.locator(".quota-legend")).to_contain_text("blog 20%")
    await shot(p, "quota-gauges")
    # Budgets: progress, and the banner since the daily budget is crossed.
    await expect(p.locator('.budget[data-period="daily"]')).to_be_visible()
    await expect(p.locator("#budget-banner")).to_contain_text("Daily budget crossed")

    # The Usage view: per project, numbers as sent.
    await p.click("[data-view=usage]")
    table = p.locator("#usage-table")
    await expect(table).to_be_visible(timeout=10_000)
    await p.select_option("#usage-report", "project")
    shop = p.locator('#usage-table tbody tr[data-key="/home/me/shop"]')
    await expect(shop.locator('[data-col="requests"]')).to_have_text("3", timeout=10_000)
    shop_output = sum(s.usage["output_tokens"] for s in sent if s.session == "sess-ui-1")
    await expect(shop.locator('[data-col="output_tokens"]')).to_have_text(str(shop_output))
    await expect(p.locator('#usage-table tfoot [data-col="requests"]')).to_have_text("5")
    await p.check("#usage-by-model")
    await expect(p.locator("#usage-table tr.sub").first).to_contain_text("claude-sonnet-4-5")
    servers = p.locator('.anatomy-table[data-by="byMcpServer"] tbody tr')
    await expect(servers).to_have_count(2, timeout=10_000)
    coverage = p.locator(".anatomy-coverage")
    await expect(coverage).to_contain_text("5 of 5 exchanges analysed")
    await expect(coverage).not_to_contain_text("could not be analysed")
    await shot(p, "usage-view")

    # A request the counter cannot read (an object, but not a Messages request) is said so.
    upstream.next.append(({"input_tokens": 7, "output_tokens": 1}, {}, None))
    odd = {"model": "claude-sonnet-4-5", "max_tokens": 5, "system": 5, "messages": 7}
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
    async with http.post(mon.url + "/v1/messages", json=odd, headers=headers) as r:
        assert r.status == 200, await r.text()
    await mon.rows(6)
    await p.select_option("#usage-report", "session")  # the view is drawn again
    await expect(coverage).to_contain_text("6 of 6 exchanges analysed", timeout=10_000)
    await expect(coverage).to_contain_text("1 of them could not be analysed")
    assert await coverage.get_attribute("data-unanalysable") == "1"

    # The detail view's context bar adds up to the input the upstream reported.
    last = rows[-1]
    await p.evaluate("id => window.Monitor.openDetail(id)", last["id"])
    bar = p.locator("#detail .anatomy")
    await expect(bar).to_be_visible(timeout=10_000)
    reported = last["input_tokens"] + last["cache_read_tokens"] + last["cache_creation_tokens"]
    assert await bar.get_attribute("data-total") == str(reported)
    pieces = await bar.locator(".anatomy-bar span").evaluate_all(
        "els => els.map(e => [e.dataset.category, Number(e.dataset.tokens)])")  # fmt: skip
    assert sum(n for _, n in pieces) == reported
    assert {"system", "tools:mcp:github", "tools:mcp:postgres"} <= {k for k, _ in pieces}
    await shot(p, "detail-anatomy")

    # A session's context growth.
    await p.keyboard.press("Escape")
    await p.click("[data-view=sessions]")
    await p.locator('#session-list tr:has(code:text-is("sess-ui-1"))').click()
    growth = p.locator(".session-context [data-turns]")
    await expect(growth).to_have_attribute("data-turns", "3", timeout=10_000)
    await expect(growth).to_have_attribute("data-compactions", "0")
    assert_clean(console)

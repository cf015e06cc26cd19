"""The dashboard in Debian chromium: live rows, filters, detail, export, config, XSS, console."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Console, shot
from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    message,
    text_block,
    thinking_block,
    tool_use_block,
)
from tests.fakes.openai_upstream import FakeOpenAI
from tests.monitor.conftest import StartMonitor, ask, send

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


async def open_monitor(page: Page, mon: RunningProxy, query: str = "") -> None:
    await page.goto(mon.url + "/monitor" + query)
    await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)


def assert_clean(console: Console) -> None:
    assert console.errors == [], console.errors
    assert console.dialogs == [], console.dialogs


async def test_request_after_page_open_appears_live(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    p, console = page
    await open_monitor(p, mon)
    await p.evaluate("window.__noReload = true")
    fake.enqueue(message(text_block("live reply")))
    await send(http, mon, ask("arrives live"))
    row = p.locator("#rows tr[data-id]").first
    await expect(row).to_contain_text("arrives live", timeout=10_000)
    await expect(row).to_contain_text("success")
    await expect(p.locator("#card-requests .card-value")).to_have_text("1", timeout=10_000)
    assert await p.evaluate("window.__noReload") is True  # no navigation happened
    await shot(p, "monitor-live")
    assert_clean(console)


async def test_filters_change_list_and_stats(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    p, console = page
    for i, model in enumerate(["claude-sonnet-4-6", "claude-haiku-4-5", "claude-haiku-4-5"]):
        await send(http, mon, ask(f"q{i}", model=model))
    await mon.rows(3)
    await open_monitor(p, mon)
    await expect(p.locator("#rows tr[data-id]")).to_have_count(3)
    await expect(p.locator("#card-requests .card-value")).to_have_text("3")
    await p.select_option("#f-model", "claude-haiku-4-5")
    await expect(p.locator("#rows tr[data-id]")).to_have_count(2)
    await expect(p.locator("#card-requests .card-value")).to_have_text("2")
    assert "model=claude-haiku-4-5" in p.url
    await p.fill("#f-q", "q2")
    await p.press("#f-q", "Enter")
    await expect(p.locator("#rows tr[data-id]")).to_have_count(1)
    await expect(p.locator("#card-requests .card-value")).to_have_text("1")
    await shot(p, "monitor-filtered")
    assert_clean(console)


async def test_detail_renders_tool_call_and_xss_stays_text(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    p, console = page
    reply = message(
        thinking_block("pondering"), text_block(XSS), tool_use_block("Read", {"file_path": XSS})
    )
    fake.enqueue(reply)
    await send(http, mon, ask(XSS, system=XSS), **{"x-claude-code-session-id": XSS})
    await mon.rows(1)
    await open_monitor(p, mon)
    await p.locator("#rows tr[data-id]").first.click()
    await p.click("[data-tab=conversation]")
    tool = p.locator(".tool-call").first
    await expect(tool).to_contain_text("Read")
    await expect(tool).to_contain_text("file_path")
    await expect(p.locator(".turn.role-system")).to_contain_text("<script>alert(2)</script>")
    await shot(p, "detail-conversation")
    await p.click("[data-tab=waterfall]")
    await expect(p.locator("svg.waterfall")).to_be_visible()
    await shot(p, "detail-waterfall")
    await p.keyboard.press("Escape")
    await p.click("[data-view=sessions]")
    await p.locator("#session-list tbody tr").first.click()
    await expect(p.locator("#session-detail .tree")).to_be_visible()
    await shot(p, "sessions-tree")
    await p.click("[data-view=analysis]")
    await expect(p.locator("#analysis .cards")).to_be_visible()
    await p.goto(mon.url + "/api/monitor/analyze?model=" + XSS)
    await expect(p.locator("#report .cards")).to_be_visible()
    await shot(p, "analysis-report")
    assert (
        await p.evaluate("document.querySelectorAll('#report img, #detail-body img').length") == 0
    )
    assert_clean(console)


async def test_export_downloads(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    p, console = page
    await send(http, mon, ask("export me"))
    await mon.rows(1)
    await open_monitor(p, mon)
    for fmt in ("json", "csv", "compressed"):
        async with p.expect_download() as info:
            await p.click(f"[data-export={fmt}]")
        download = await info.value
        path = await download.path()
        assert path is not None and "export me" in path.read_text()
        assert download.suggested_filename.startswith("proxy-monitor")
    assert_clean(console)


async def test_config_change_takes_effect_for_next_request(
    start_monitor: StartMonitor,
    fake: FakeAnthropic,
    http: aiohttp.ClientSession,
    page: tuple[Page, Console],
) -> None:
    async with FakeOpenAI() as backend:
        mon = await start_monitor(
            upstream_url=fake.url,
            openrouter_base_url=backend.url,
            openrouter_api_key="sk-or-test-" + "k" * 30,
        )
        p, console = page
        await p.goto(mon.url + "/config")
        await expect(p.locator("[data-mode=anthropic]")).to_have_attribute("aria-pressed", "true")
        await p.click("[data-mode=openrouter]")
        await p.fill("#map-sonnet", "vendor/picked-model")
        await p.click("button[type=submit].primary")
        await expect(p.locator(".toast.ok")).to_be_visible()
        await shot(p, "config-saved")
        await send(http, mon, ask("through the backend", stream=False))
        sent = [r.json() for r in backend.requests if r.path.endswith("/chat/completions")]
        assert sent[-1]["model"] == "vendor/picked-model", [r.path for r in backend.requests]
        row = (await mon.rows(1))[0]
        assert row["mode"] == "openrouter" and row["upstream_model"] == "vendor/picked-model"
        await p.click("#reset")
        await p.click("dialog.confirm button[value=ok]")
        await expect(p.locator("[data-mode=anthropic]")).to_have_attribute("aria-pressed", "true")
        assert_clean(console)


async def test_keyboard_language_and_theme(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession, page: tuple[Page, Console]
) -> None:
    p, console = page
    await send(http, mon, ask("keyboard"))
    await mon.rows(1)
    await open_monitor(p, mon)
    await expect(p.locator("#rows tr[data-id]")).to_have_count(1)
    await p.keyboard.press("j")
    await p.keyboard.press("Enter")
    await expect(p.locator("#detail")).to_be_visible()
    await p.keyboard.press("Escape")
    await p.click("#lang-toggle")
    await expect(p.locator("[data-view=sessions]")).to_have_text("会话")
    await p.click("#theme-toggle")
    await shot(p, "monitor-zh-dark")
    assert_clean(console)


async def test_config_base_url_is_read_only_and_config_round_trips_through_a_file(
    start_monitor: StartMonitor, fake: FakeAnthropic, page: tuple[Page, Console], tmp_path: Path
) -> None:
    async with FakeOpenAI() as backend:
        key = "sk-or-test-" + "k" * 30
        mon = await start_monitor(
            upstream_url=fake.url, openrouter_base_url=backend.url, openrouter_api_key=key
        )
        p, console = page
        await p.goto(mon.url + "/config")
        await expect(p.locator("#baseUrl")).to_have_value(backend.url)
        assert await p.locator("#baseUrl").evaluate("input => input.readOnly")
        await expect(p.locator("#baseUrl-locked")).to_be_visible()
        await expect(p.locator("#baseUrl-locked")).to_contain_text("OPENROUTER_BASE_URL")
        async with p.expect_download() as info:
            await p.click("#export-config")
        exported_path = await (await info.value).path()
        assert exported_path is not None
        exported = json.loads(exported_path.read_text())
        assert set(exported) == {"proxyMode", "openrouter", "headers"}
        assert exported["openrouter"]["baseUrl"] == backend.url and key not in json.dumps(exported)
        exported["openrouter"]["modelMapping"]["sonnet"] = "vendor/imported"
        exported["openrouter"]["baseUrl"] = "http://elsewhere.invalid/api"
        exported["openrouter"]["apiKey"] = "sk-or-from-a-seed-file"
        upload = tmp_path / "config.json"
        upload.write_text(json.dumps(exported))
        await p.set_input_files("#import-config", str(upload))
        await expect(p.locator(".toast.ok")).to_be_visible()
        await expect(p.locator(".toast.warn")).to_be_visible()
        await expect(p.locator("#map-sonnet")).to_have_value("vendor/imported")
        await expect(p.locator("#baseUrl")).to_have_value(backend.url)
        async with aiohttp.ClientSession() as http, http.get(mon.url + "/api/config") as resp:
            config = await resp.json()
        assert config["openrouter"]["modelMapping"]["sonnet"] == "vendor/imported"
        assert config["openrouter"]["baseUrl"] == backend.url
        await shot(p, "config-read-only-base-url")
        assert_clean(console)


async def test_recorder_banner_shows_exchanges_that_could_not_be_recorded(
    start_monitor: StartMonitor,
    fake: FakeAnthropic,
    http: aiohttp.ClientSession,
    page: tuple[Page, Console],
) -> None:
    """Drops are never silent: with a one-exchange backlog bound and the store locked by another
    process, the exchanges beyond the bound are counted and the dashboard says so."""
    import sqlite3

    mon = await start_monitor(upstream_url=fake.url, record_queue_size=1)
    await send(http, mon, ask("first"))
    await mon.rows(1)
    locker = sqlite3.connect(mon.settings.data_path / "exchanges.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(5):
            await send(http, mon, ask(f"beyond the bound {i}"))
        assert mon.state.recorder.dropped > 0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    p, console = page
    await open_monitor(p, mon)
    banner = p.locator("#recorder-banner")
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text(
        f"{mon.state.recorder.dropped} exchanges could not be recorded"
    )
    await expect(banner).to_contain_text("RECORD_QUEUE_SIZE")
    assert_clean(console)

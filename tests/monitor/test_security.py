"""Each security rule: Host allow-list, CSRF Origin check, access token, CORS, page headers, XSS."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.monitor.conftest import ask, send

TOKEN = "local-test-token-" + "z" * 24


async def status(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
    async with http.request(method, url, allow_redirects=False, **kw) as r:
        await r.read()
        return r.status


async def test_host_allow_list_stops_dns_rebinding(
    start_monitor: Any, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    mon = await start_monitor(upstream_url=fake.url, allowed_hosts="proxy.internal")
    for host, expected in (("evil.example:8082", 403), ("localhost:1", 200), ("127.0.0.1", 200),
                           ("[::1]:9", 200), ("proxy.internal:8082", 200), ("10.1.2.3", 200)):  # fmt: skip
        assert (
            await status(http, "GET", mon.url + "/api/monitor/stats", headers={"Host": host})
            == expected
        ), host
    assert await status(http, "GET", mon.url + "/monitor", headers={"Host": "evil.example"}) == 403
    # On loopback the proxy routes are guarded too: a rebound page must not reach /v1.
    assert (
        await status(
            http, "POST", mon.url + "/v1/messages", json=ask("x"), headers={"Host": "evil.example"}
        )
        == 403
    )


async def test_cross_site_state_changes_are_refused(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    host = mon.url.removeprefix("http://")
    foreign = {"Origin": "https://evil.example"}
    assert await status(http, "POST", mon.url + "/api/monitor/clear", headers=foreign) == 403
    assert (
        await status(
            http, "POST", mon.url + "/api/config", json={"proxyMode": "openrouter"}, headers=foreign
        )
        == 403
    )
    assert (
        await status(http, "POST", mon.url + "/api/config/reset", headers={"Origin": "null"}) == 403
    )
    assert (
        await status(
            http, "POST", mon.url + "/api/monitor/clear", headers={"Sec-Fetch-Site": "cross-site"}
        )
        == 403
    )
    assert (
        await status(http, "POST", mon.url + "/v1/messages", json=ask("x"), headers=foreign) == 403
    )
    assert (
        await status(
            http, "POST", mon.url + "/api/monitor/clear", headers={"Origin": f"http://{host}"}
        )
        == 200
    )
    assert await status(http, "POST", mon.url + "/api/monitor/clear") == 200  # curl, scripts
    assert (
        await status(http, "GET", mon.url + "/api/monitor/stats", headers=foreign) == 200
    )  # reads: CORS guards


async def test_no_wildcard_cors_anywhere(
    mon: RunningProxy, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    from tests.fakes.anthropic_upstream import JSONReply, message, text_block

    fake.enqueue(
        JSONReply(
            message(text_block("hi"), model="m"), headers={"Access-Control-Allow-Origin": "*"}
        )
    )
    origin = {"Origin": "https://evil.example"}
    async with http.post(
        mon.url + "/v1/messages", json=ask("x", stream=False), headers={"x-api-key": "k"}
    ) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    for path in ("/api/monitor/requests", "/monitor", "/api/config", "/health"):
        async with http.get(mon.url + path, headers=origin) as r:
            assert "Access-Control-Allow-Origin" not in r.headers, path
    async with http.options(
        mon.url + "/api/config", headers={**origin, "Access-Control-Request-Method": "POST"}
    ) as r:
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_token_required_off_loopback_but_not_for_proxy_routes(
    start_monitor: Any, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    mon = await start_monitor(upstream_url=fake.url, host="0.0.0.0", auth_token=TOKEN)
    for path in (
        "/monitor",
        "/config",
        "/api/monitor/requests",
        "/api/config",
        "/api/monitor/stream",
    ):
        assert await status(http, "GET", mon.url + path) == 401, path
    async with http.get(mon.url + "/monitor", headers={"Accept": "text/html"}) as r:
        assert r.status == 401 and "access token" in await r.text()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert await status(http, "GET", mon.url + "/api/monitor/requests", headers=bearer) == 200
    assert (
        await status(
            http,
            "GET",
            mon.url + "/api/monitor/requests",
            headers={"Authorization": "Bearer wrong"},
        )
        == 401
    )
    assert (
        await status(http, "GET", mon.url + "/api/monitor/requests", params={"token": TOKEN}) == 401
    )  # not in API URLs
    assert await status(http, "GET", mon.url + "/static/app.css") == 200
    # Claude Code's own routes never need the dashboard token.
    assert await status(http, "GET", mon.url + "/health") == 200
    assert await status(http, "HEAD", mon.url + "/") == 200
    await send(http, mon, ask("hello"))
    assert (await mon.rows(1))[0]["state"] == "success"


async def test_token_login_sets_a_strict_cookie(start_monitor: Any, fake: FakeAnthropic) -> None:
    mon = await start_monitor(upstream_url=fake.url, host="0.0.0.0", auth_token=TOKEN)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(
            mon.url + "/monitor", params={"token": TOKEN, "x": "1"}, allow_redirects=False
        ) as r:
            assert r.status == 302 and r.headers["Location"] == "/monitor?x=1"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert await status(http, "GET", mon.url + "/api/monitor/stats") == 200
    async with aiohttp.ClientSession() as http:
        assert await status(http, "GET", mon.url + "/monitor", params={"token": "nope"}) == 401


async def test_pages_send_a_strict_content_security_policy(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    for path in ("/monitor", "/config", "/api/monitor/analyze"):
        async with http.get(mon.url + path) as r:
            assert r.status == 200
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "<script>" not in (await r.text()).replace("<script defer src=", "")


async def test_analysis_never_reflects_markup(
    mon: RunningProxy, http: aiohttp.ClientSession
) -> None:
    # The seed reflected ?model= into HTML; here the HTML view is a static file and the
    # report is JSON, so the payload can only ever be data.
    payload = "<img src=x onerror=alert(1)>"
    async with http.get(mon.url + "/api/monitor/analyze", params={"model": payload}) as r:
        assert payload not in await r.text()
    async with http.get(
        mon.url + "/api/monitor/analyze", params={"model": payload, "format": "json"}
    ) as r:
        assert r.content_type == "application/json"
        assert (await r.json())["filters"]["models"] == [payload]

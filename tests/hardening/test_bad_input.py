"""Bad input on every route, in both modes: a clear 4xx in Anthropic's error shape, the process
keeps serving, and the record says what happened."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import orjson
import pytest

from anthropic_proxy.storage.bodies import join
from tests.conftest import API_KEY, RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, JSONReply, message, text_block
from tests.fakes.openai_upstream import FakeOpenAI
from tests.hardening.conftest import Start, mode_settings

LIMIT = 1024 * 1024  # max_body_bytes in these tests: room for 100,000 levels of nesting
JSON_HEADERS = {"content-type": "application/json", "x-api-key": API_KEY}
ASK = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
DEEP = b"[" * 100_000 + b"]" * 100_000

# name -> (body, content type, expected status, expected error_kind)
BAD_BODIES: dict[str, tuple[bytes, str, int, str]] = {
    "invalid_json": (b'{"model": "x", nope', "application/json", 400, "bad_request"),
    "empty": (b"", "application/json", 400, "bad_request"),
    "whitespace": (b" \r\n\t ", "application/json", 400, "bad_request"),
    "not_an_object": (b"[1, 2, 3]", "application/json", 400, "bad_request"),
    "wrong_content_type": (json.dumps(ASK).encode(), "text/plain", 400, "bad_request"),
    "form_content_type": (b"a=1&b=2", "application/x-www-form-urlencoded", 400, "bad_request"),
    "over_limit": (b'{"x": "' + b"a" * (LIMIT + 10) + b'"}', "application/json", 413, "too_large"),
    "nested_100k": (b'{"messages": ' + DEEP + b"}", "application/json", 400, "bad_request"),
    "non_utf8": (
        b'{"model": "\xff\xfe\xc3(", "max_tokens": 1}',
        "application/json",
        400,
        "bad_request",
    ),
    "nul_bytes": (b"\x00" * 64, "application/json", 400, "bad_request"),
}


def assert_anthropic_error(status: int, payload: Any, expected: int) -> None:
    assert status == expected, payload
    assert payload["type"] == "error", payload
    error = payload["error"]
    assert isinstance(error["type"], str) and error["type"], payload
    assert isinstance(error["message"], str) and error["message"], payload


async def still_serving(http: aiohttp.ClientSession, proxy: RunningProxy) -> None:
    """A normal request right after the bad one succeeds."""
    async with http.post(f"{proxy.url}/v1/messages", json=ASK, headers=JSON_HEADERS) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert body["type"] == "message"
    async with http.get(f"{proxy.url}/health") as resp:
        assert resp.status == 200


async def request(
    http: aiohttp.ClientSession, method: str, url: str, body: bytes, content_type: str
) -> tuple[int, Any]:
    headers = {"x-api-key": API_KEY, "content-type": content_type}
    async with http.request(method, url, data=body, headers=headers) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_bad_bodies_on_the_messages_routes(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    path: str,
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai, max_body_bytes=LIMIT))
    for name, (body, content_type, expected, kind) in BAD_BODIES.items():
        url = f"{proxy.url}{path}?case={name}"
        status, payload = await request(http, "POST", url, body, content_type)
        assert_anthropic_error(status, payload, expected)
        await still_serving(http, proxy)
        [row] = await proxy.rows(1, query=f"case={name}")
        assert (row["status"], row["state"], row["error_kind"]) == (expected, "error", kind), name
        assert row["error_message"], name
    # nothing bad reached an upstream: only the normal requests did
    assert all(not r.query_string for r in fake.requests + oai.requests)


@pytest.mark.parametrize("depth", [300, 1000])
async def test_deep_but_parseable_nesting_is_served_or_refused_cleanly_and_recorded(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    depth: int,
) -> None:
    """JSON nested deeper than orjson re-encodes (254) but within what it parses (1024)."""
    proxy = await start(**mode_settings(mode, fake, oai, max_body_bytes=LIMIT))
    fake.route("POST", "/v1/messages", JSONReply(message(text_block("deep ok"))))
    nested = "[" * depth + "]" * depth
    schema = '{"type":"object","properties":{"a":{"enum":' + nested + "}}}"
    raw = (
        '{"model":"claude-sonnet-4-6","max_tokens":16,"messages":[{"role":"user","content":"deep"}],'
        '"tools":[{"name":"t","description":"d","input_schema":' + schema + "}]}"
    ).encode()
    status, payload = await request(
        http, "POST", f"{proxy.url}/v1/messages", raw, "application/json"
    )
    if mode == "anthropic":  # relayed byte for byte; the upstream decides
        assert status == 200, payload
        assert fake.requests[-1].body == raw
    else:  # cannot be re-encoded for the backend: a clear 400, never a 500
        assert_anthropic_error(status, payload, 400)
    [row] = await proxy.rows(1)
    assert row["status"] == status and row["state"] == ("success" if status == 200 else "error")
    if mode == "anthropic":  # the request body is stored (as raw text when too deep to re-encode)
        stored = await asyncio.to_thread(load_request, proxy, row["request_ref"])
        assert stored == raw.decode() or stored == orjson.loads(raw)
    await still_serving(http, proxy)


def load_request(proxy: RunningProxy, ref: str) -> Any:
    return join(ref, proxy.state.store.blob)


@pytest.mark.parametrize("case", ["over_limit", "invalid_json", "non_utf8", "empty"])
async def test_other_v1_routes(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    case: str,
) -> None:
    """Other /v1/* paths are relayed as they are; only the size limit applies to them."""
    proxy = await start(**mode_settings(mode, fake, oai, max_body_bytes=LIMIT))
    body, content_type, _, _ = BAD_BODIES[case]
    status, payload = await request(
        http, "POST", f"{proxy.url}/v1/files?c={case}", body, content_type
    )
    if case == "over_limit":
        assert_anthropic_error(status, payload, 413)
        assert fake.requests_to("/v1/files") == []
        [row] = await proxy.rows(1)
        assert (row["status"], row["error_kind"]) == (413, "too_large")
    else:
        assert status == 200, payload  # the fake echoes what it received
        assert fake.requests_to("/v1/files")[-1].body == body
        [row] = await proxy.rows(1)
        assert (row["status"], row["state"]) == (200, "success")
    # a GET with an oversized body is refused too
    status, payload = await request(
        http, "GET", f"{proxy.url}/v1/models", BAD_BODIES["over_limit"][0], "application/json"
    )
    assert_anthropic_error(status, payload, 413)
    await still_serving(http, proxy)


CONTROL_BODIES = ["invalid_json", "non_utf8", "nested_100k", "over_limit", "nul_bytes"]


@pytest.mark.parametrize("path", ["/api/config", "/api/config/test-openrouter"])
async def test_control_api_bodies(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    path: str,
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai, max_body_bytes=LIMIT))
    before = await (await http.get(f"{proxy.url}/api/config")).json()
    for name in CONTROL_BODIES:
        body, content_type, _, _ = BAD_BODIES[name]
        status, payload = await request(http, "POST", proxy.url + path, body, content_type)
        assert_anthropic_error(status, payload, 413 if name == "over_limit" else 400)
        await still_serving(http, proxy)
    status, payload = await request(
        http, "POST", f"{proxy.url}/api/config", b"", "application/json"
    )
    assert_anthropic_error(status, payload, 400)
    assert (await (await http.get(f"{proxy.url}/api/config")).json()) == before  # unchanged


async def test_monitor_api_bad_queries(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    await still_serving(http, proxy)
    cases = {
        "/api/monitor/requests?limit=abc": 400,
        "/api/monitor/requests?limit=-5": 400,
        "/api/monitor/requests?status=abc": 400,
        "/api/monitor/requests?sort=evil": 400,
        "/api/monitor/requests/no-such-id": 404,
        "/api/monitor/requests/%00%ff": 404,
        "/api/monitor/export?format=xml": 400,
        "/api/monitor/sessions/no-such-session": 404,
    }
    for path, expected in cases.items():
        async with http.get(proxy.url + path) as resp:
            assert_anthropic_error(resp.status, await resp.json(), expected)
    # pages and probes ignore a garbage body and answer as usual
    for method, path in [("GET", "/health"), ("GET", "/monitor"), ("GET", "/config")]:
        async with http.request(method, proxy.url + path, data=b"\xff\x00{nope") as resp:
            assert resp.status == 200
    await still_serving(http, proxy)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/nope/deeper?x=1"),
        ("DELETE", "/api/nope"),
        ("GET", "/v2/messages"),
        ("PUT", "/health"),
        ("PATCH", "/api/monitor/requests"),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd"),
        ("GET", "/monitor/../../etc/passwd"),
    ],
)
async def test_unknown_paths_and_methods(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    mode: str,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    async with http.request(method, proxy.url + path, data=b"{nope") as resp:
        payload = await resp.json()
        assert resp.status in (404, 405), payload
        assert_anthropic_error(resp.status, payload, resp.status)
        assert payload["error"]["type"] == "not_found_error"
    await still_serving(http, proxy)


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; return whatever comes back before it closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(65536)
    finally:
        writer.close()


async def test_huge_headers_and_garbage_on_the_socket(
    start: Start, fake: FakeAnthropic, oai: FakeOpenAI, mode: str, http: aiohttp.ClientSession
) -> None:
    proxy = await start(**mode_settings(mode, fake, oai))
    for path in ("/v1/messages", "/health", "/api/monitor/requests"):
        # one header over aiohttp's 8190-byte line limit
        async with http.post(proxy.url + path, json=ASK, headers={"x-huge": "a" * 20_000}) as resp:
            assert 400 <= resp.status < 500
        await still_serving(http, proxy)
    # very many headers, and a request line over the limit
    many = {f"x-h{i}": "v" * 100 for i in range(200)}
    async with http.post(proxy.url + "/v1/messages", json=ASK, headers=many) as resp:
        assert resp.status in (200, 400, 431)
    async with http.get(proxy.url + "/v1/models?q=" + "a" * 20_000) as resp:
        assert 400 <= resp.status < 500
    await still_serving(http, proxy)
    for garbage in (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x00" * 4096,
    ):
        reply = await raw_exchange(proxy.url, garbage)
        assert not reply or re.match(rb"HTTP/1\.[01] 4\d\d ", reply), reply[:200]
        await still_serving(http, proxy)
    # a request body that stops half-way (the client vanishes)
    head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    host, port = proxy.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + b'{"model": "x"')
    await writer.drain()
    writer.close()
    await still_serving(http, proxy)

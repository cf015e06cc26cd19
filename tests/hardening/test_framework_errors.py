"""Requests aiohttp rejects before any handler runs get Anthropic's JSON error shape too.

Each case is sent as raw bytes on its own connection; the reply's status line, content type and
body are checked, then a normal request must still be served.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.hardening.conftest import Start
from tests.hardening.test_bad_input import raw_exchange, still_serving

ASK = b'{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'


def request(
    head: str = "POST /v1/messages HTTP/1.1", headers: str = "", body: bytes = ASK
) -> bytes:
    lines = f"{head}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}"
    return lines.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


CASES = {
    "header over 8 KB": (request(headers="x-huge: " + "a" * 20_000 + "\r\n"), 431),
    "too many headers": (request(headers="".join(f"x-h{i}: v\r\n" for i in range(200))), 431),
    "bad request line": (b"NOT HTTP AT ALL\r\n\r\n", 400),
    "request line over 8 KB": (request(head=f"GET /v1/models?q={'a' * 20_000} HTTP/1.1"), 400),
    "unknown HTTP version": (b"GET /health HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400),
    "bad chunked encoding": (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
}


def parse_reply(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("case", list(CASES))
async def test_framework_rejections_have_the_anthropic_shape(
    start: Start, fake: FakeAnthropic, case: str
) -> None:
    proxy: RunningProxy = await start(upstream_url=fake.url)
    data, expected = CASES[case]
    status, headers, body = parse_reply(await raw_exchange(proxy.url, data))
    assert status == expected, body
    assert headers["content-type"].startswith("application/json"), headers
    payload = orjson.loads(body[: int(headers["content-length"])])
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["message"]
    async with aiohttp.ClientSession() as http:
        await still_serving(http, proxy)
    assert not fake.requests or fake.requests[-1].body != b"{}"  # the bad body never went upstream


async def test_many_bad_connections_in_a_row_leave_it_serving(
    start: Start, fake: FakeAnthropic
) -> None:
    proxy = await start(upstream_url=fake.url)
    replies = await asyncio.gather(*(raw_exchange(proxy.url, data) for data, _ in CASES.values()))
    assert [parse_reply(r)[0] for r in replies] == [code for _, code in CASES.values()]
    async with aiohttp.ClientSession() as http:
        await still_serving(http, proxy)

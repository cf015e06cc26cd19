"""`--upstream URL1,URL2`: a failover chain of Anthropic upstreams, through the real server and
the official SDK, against several fake upstreams with scripted failures."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import API_KEY, RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    JSONReply,
    Reset,
    StreamReply,
    error_reply,
    message,
    message_events,
    text_block,
)
from tests.routing.helpers import ask, client, closed_port


async def chain(start_proxy: StartProxy, *urls: str, **extra: Any) -> RunningProxy:
    return await start_proxy(upstream_url=",".join(urls), **extra)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_529_on_the_first_upstream_is_served_by_the_second(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic, stream: bool
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    fake.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    second.enqueue(message(text_block("from the second")))
    if stream:
        async with client(proxy).messages.stream(**ask()) as events:
            reply = await events.get_final_message()
    else:
        reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text == "from the second"  # type: ignore[union-attr]
    first, backup = fake.requests_to("/v1/messages"), second.requests_to("/v1/messages")
    assert len(first) == 1 and len(backup) == 1
    assert backup[0].body == first[0].body  # the same bytes, byte for byte
    assert backup[0].headers["authorization"] == f"Bearer {API_KEY}"  # the client's own key


async def test_a_refused_connection_fails_over(
    start_proxy: StartProxy, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, closed_port(), second.url)
    reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text  # type: ignore[union-attr]
    assert len(second.requests_to("/v1/messages")) == 1


async def test_a_429_benches_the_upstream_for_its_retry_after(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    fake.enqueue(error_reply(429, "rate_limit_error", "slow down", headers={"retry-after": "120"}))
    for _ in range(3):
        await client(proxy).messages.create(**ask())
    assert len(fake.requests_to("/v1/messages")) == 1  # asked once, then left alone
    assert len(second.requests_to("/v1/messages")) == 3
    benched = proxy.state.router.health.snapshot()["benchedKeys"]
    assert [(b["provider"], b["reason"]) for b in benched] == [("anthropic", "http_429")]
    assert benched[0]["key"] == API_KEY[:10] + "..." + API_KEY[-4:]


async def test_the_last_upstreams_error_reaches_the_client_unmodified(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    fake.enqueue(error_reply(529, "overloaded_error", "first is overloaded"))
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"second too"}}'
    second.enqueue(JSONReply(body, 529, {"retry-after": "3", "x-should-retry": "true"}))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client(proxy).messages.create(**ask())
    assert caught.value.status_code == 529
    assert caught.value.response.content == body
    assert caught.value.response.headers["retry-after"] == "3"


async def test_a_client_error_is_not_retried(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    fake.enqueue(error_reply(400, "invalid_request_error", "bad"))
    with pytest.raises(anthropic.BadRequestError):
        await client(proxy).messages.create(**ask())
    assert second.requests_to("/v1/messages") == []


async def test_no_retry_after_the_first_byte(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    events = message_events(message(text_block("partial answer here")))
    fake.enqueue(StreamReply([*events[:3], Reset()]))
    with pytest.raises(anthropic.APIError):
        async with client(proxy).messages.stream(**ask()) as stream:
            await stream.get_final_message()
    assert second.requests_to("/v1/messages") == []
    [row] = await proxy.rows(kind="messages")
    assert (row["state"], row["error_kind"]) == ("upstream_broken", "upstream_broken")


async def test_a_timeout_before_the_first_byte_fails_over(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url, request_timeout_ms=300)
    fake.enqueue(JSONReply(message(text_block("too late")), delay=3))
    reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text != "too late"  # type: ignore[union-attr]
    assert len(second.requests_to("/v1/messages")) == 1


async def test_an_upstream_that_keeps_failing_is_skipped_for_a_cool_down(
    start_proxy: StartProxy, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, fake.url, second.url)
    fake.responder = lambda req: error_reply(500, "api_error", "down")
    for _ in range(5):
        await client(proxy).messages.create(**ask())
    assert len(fake.requests_to("/v1/messages")) == 3  # the breaker opened after 3 in a row
    assert len(second.requests_to("/v1/messages")) == 5
    state = proxy.state.router.health.snapshot()["targets"]["anthropic"]
    assert state["state"] == "open" and state["lastError"] == "http_500"
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/metrics") as r:
        metrics = await r.text()
    assert 'anthropic_proxy_routing_circuit_open{target="anthropic"} 1.0' in metrics
    assert 'anthropic_proxy_routing_circuit_open{target="anthropic-2"} 0.0' in metrics


async def test_other_paths_follow_the_upstream_chain(
    start_proxy: StartProxy, second: FakeAnthropic
) -> None:
    proxy = await chain(start_proxy, closed_port(), second.url)
    page = await client(proxy).models.list()
    assert page.data is not None
    assert len(second.requests_to("/v1/models", "GET")) == 1

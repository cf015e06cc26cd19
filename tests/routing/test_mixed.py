"""Chains that mix Anthropic and OpenAI-compatible providers: the official SDK keeps working
when the first target says 529 and an OpenAI-compatible backend answers, translated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.conftest import API_KEY, RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, error_reply
from tests.fakes.openai_upstream import FakeOpenAI, JSONReply, completion, openai_error
from tests.routing.helpers import ask, client, start_with

BACKEND_KEY = "sk-backend-" + "k" * 40 + "-end1"


@pytest.fixture
async def backend() -> Any:
    async with FakeOpenAI() as server:
        yield server


async def mixed(
    start_proxy: StartProxy, tmp_path: Path, anthropic_url: str, backend_url: str
) -> RunningProxy:
    config = {
        "providers": [
            {
                "name": "backup",
                "kind": "openai",
                "baseUrl": backend_url,
                "keyEnv": "ROUTING_TEST_BACKEND_KEY",
                "headers": {"x-team": "blue"},
            },
        ],
        "routes": [
            {"name": "all", "targets": ["anthropic", {"provider": "backup", "model": "gpt-x"}]}
        ],
    }
    return await start_with(start_proxy, tmp_path, config, upstream_url=anthropic_url)


@pytest.fixture(autouse=True)
def backend_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_TEST_BACKEND_KEY", BACKEND_KEY)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_529_fails_over_to_a_translated_backend(
    start_proxy: StartProxy,
    tmp_path: Path,
    fake: FakeAnthropic,
    backend: FakeOpenAI,
    stream: bool,
) -> None:
    proxy = await mixed(start_proxy, tmp_path, fake.url, backend.url)
    fake.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    backend.enqueue(completion("translated answer"))
    if stream:
        async with client(proxy).messages.stream(**ask()) as events:
            reply = await events.get_final_message()
    else:
        reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text == "translated answer"  # type: ignore[union-attr]
    assert reply.model == "claude-sonnet-4-6"  # Claude Code sees the model it asked for
    [sent] = backend.requests_to("/v1/chat/completions")
    assert sent.json()["model"] == "gpt-x"
    assert sent.headers["authorization"] == f"Bearer {BACKEND_KEY}"  # its own key
    assert sent.headers["x-team"] == "blue"
    assert API_KEY not in json.dumps(dict(sent.headers))  # the client's key never goes there
    [row] = await proxy.rows(kind="messages")
    assert row["state"] == "success" and row["upstream_model"] == "gpt-x"
    # its model list (output limits) was read with its own key, from its own host
    [listing] = backend.requests_to("/v1/models", "GET")
    assert listing.headers["authorization"] == f"Bearer {BACKEND_KEY}"


async def test_a_translated_backend_error_at_the_end_of_the_chain_is_mapped(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, backend: FakeOpenAI
) -> None:
    proxy = await mixed(start_proxy, tmp_path, fake.url, backend.url)
    fake.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    body = openai_error(429, "rate_limit_exceeded")
    backend.enqueue(JSONReply(body, 429, {"retry-after": "2"}))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client(proxy).messages.create(**ask())
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_the_anthropic_target_serves_when_healthy(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, backend: FakeOpenAI
) -> None:
    proxy = await mixed(start_proxy, tmp_path, fake.url, backend.url)
    await client(proxy).messages.create(**ask())
    count = await client(proxy).messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )
    assert count.input_tokens > 0
    assert backend.requests_to("/v1/chat/completions") == []
    assert len(fake.requests_to("/v1/messages/count_tokens")) == 1


async def test_a_refused_backend_falls_back_to_anthropic(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, backend: FakeOpenAI
) -> None:
    config = {
        "providers": [
            {
                "name": "dead",
                "kind": "openai",
                "baseUrl": "http://127.0.0.1:1",
                "keyEnv": "ROUTING_TEST_BACKEND_KEY",
            }
        ],
        "routes": [{"targets": [{"provider": "dead", "model": "m"}, "anthropic"]}],
    }
    proxy = await start_with(start_proxy, tmp_path, config, upstream_url=fake.url)
    async with client(proxy).messages.stream(**ask()) as events:
        reply = await events.get_final_message()
    assert reply.content[0].text  # type: ignore[union-attr]
    assert len(fake.requests_to("/v1/messages")) == 1
    [row] = await proxy.rows(kind="messages")
    assert (row["provider"], row["mode"], row["upstream_model"]) == ("anthropic", "anthropic", None)


async def test_a_backend_without_a_key_is_skipped(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, backend: FakeOpenAI
) -> None:
    config = {
        "providers": [
            {
                "name": "byok",
                "kind": "openai",
                "baseUrl": backend.url,
                "keyEnv": "ROUTING_TEST_UNSET_KEY",
            }
        ],
        "routes": [{"targets": [{"provider": "byok", "model": "m"}, "anthropic"]}],
    }
    proxy = await start_with(start_proxy, tmp_path, config, upstream_url=fake.url)
    reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text  # type: ignore[union-attr]
    assert backend.requests_to("/v1/chat/completions") == []  # no key: never called
    [row] = await proxy.rows(kind="messages")
    attempts = json.loads(row["attempts"])
    assert [(a["provider"], a["error"]) for a in attempts] == [
        ("byok", "no_key"),
        ("anthropic", None),
    ]

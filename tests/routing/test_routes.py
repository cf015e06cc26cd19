"""Configured providers and routes (config.json / POST /api/config) through the real server:
key pools, quota, traits, model overrides, validation and who may change where traffic goes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    JSONReply,
    RecordedRequest,
    error_reply,
    message,
    text_block,
)
from tests.routing.helpers import ask, client, start_with

KEY_A = "sk-ant-api03-poolkeyA-" + "a" * 40 + "-A111"
KEY_B = "sk-ant-api03-poolkeyB-" + "b" * 40 + "-B222"
TOKEN = "operator-token-" + "t" * 30


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_TEST_KEY_A", KEY_A)
    monkeypatch.setenv("ROUTING_TEST_KEY_B", KEY_B)


def pool(url: str) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "team", "baseUrl": url, "keyEnv": ["ROUTING_TEST_KEY_A", "ROUTING_TEST_KEY_B"]}
        ],
        "routes": [{"name": "all", "targets": ["team"]}],
    }


def by_key(limited: dict[str, Any]) -> Any:
    def reply(req: RecordedRequest) -> Any:
        return limited.get(req.headers.get("x-api-key", ""))

    return reply


@pytest.mark.usefixtures("keys")
async def test_a_pool_rotates_on_429_and_the_clients_key_never_leaves(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    proxy = await start_with(start_proxy, tmp_path, pool(fake.url))
    fake.responder = by_key(
        {KEY_A: error_reply(429, "rate_limit_error", "limited", headers={"retry-after": "60"})}
    )
    reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text  # type: ignore[union-attr]
    sent = fake.requests_to("/v1/messages")
    assert [r.headers["x-api-key"] for r in sent] == [KEY_A, KEY_B]
    assert all("authorization" not in r.headers for r in sent)  # the client's key stays home
    await client(proxy).messages.create(**ask())
    assert fake.requests_to("/v1/messages")[-1].headers["x-api-key"] == KEY_B  # A is benched


@pytest.mark.usefixtures("keys")
async def test_a_spent_subscription_quota_benches_the_key_until_its_reset(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    proxy = await start_with(start_proxy, tmp_path, pool(fake.url))
    reset = int(time.time()) + 3 * 3600
    spent = error_reply(
        429,
        "rate_limit_error",
        "usage limit reached",
        headers={
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-5h-status": "rejected",
            "anthropic-ratelimit-unified-5h-reset": str(reset),
        },
    )
    fake.responder = by_key({KEY_A: spent})
    for stream in (False, True, False):
        if stream:
            async with client(proxy).messages.stream(**ask()) as events:
                await events.get_final_message()
        else:
            await client(proxy).messages.create(**ask())
    keys = [r.headers["x-api-key"] for r in fake.requests_to("/v1/messages")]
    assert keys == [KEY_A, KEY_B, KEY_B, KEY_B]
    [benched] = proxy.state.router.health.snapshot()["benchedKeys"]
    assert benched["reason"] == "quota" and benched["key"] == KEY_A[:10] + "..." + KEY_A[-4:]
    assert 3 * 3600 - 60 < benched["backInS"] <= 3 * 3600


async def test_subagents_go_to_their_own_route_with_its_model(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    config = {
        "providers": [{"name": "cheap", "baseUrl": second.url}],
        "routes": [
            {
                "name": "subagents",
                "match": {"agent": "subagent"},
                "targets": [{"provider": "cheap", "model": "cheap-model-1"}],
            },
            {"name": "main", "targets": ["anthropic"]},
        ],
    }
    proxy = await start_with(start_proxy, tmp_path, config, upstream_url=fake.url)
    second.enqueue(message(text_block("from cheap")))
    sub = await client(proxy, **{"x-claude-code-agent-id": "agent-7"}).messages.create(**ask())
    main = await client(proxy).messages.create(**ask())
    assert sub.content[0].text == "from cheap"  # type: ignore[union-attr]
    assert main.content[0].text != "from cheap"  # type: ignore[union-attr]
    [seen] = second.requests_to("/v1/messages")
    assert seen.json()["model"] == "cheap-model-1"
    [original] = fake.requests_to("/v1/messages")
    assert original.json()["model"] == "claude-sonnet-4-6"


async def test_an_old_seed_config_loads_as_it_is(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    seed = {
        "proxyMode": "anthropic",
        "openrouter": {
            "apiKey": "sk-or-v1-old",
            "baseUrl": "https://openrouter.ai/api",
            "modelMapping": {"sonnet": "x/y", "opus": "x/z", "haiku": "x/w"},
        },
        "anthropic": {"baseUrl": "https://api.anthropic.com", "timeout": 600000},
        "server": {"port": 8082},
    }
    proxy = await start_with(start_proxy, tmp_path, seed, upstream_url=fake.url)
    assert proxy.state.router.routing.preset == "anthropic"
    await client(proxy).messages.create(**ask())
    assert len(fake.requests_to("/v1/messages")) == 1
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/api/config") as r:
        config = await r.json()
    assert config["openrouter"]["modelMapping"]["sonnet"] == "x/y"
    assert config["providers"] == [] and config["routes"] == []


async def post_config(proxy: RunningProxy, patch: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{proxy.url}/api/config"
    async with aiohttp.ClientSession() as http, http.post(url, json=patch, headers=headers) as r:
        return r.status, await r.json()


async def test_routes_change_live_and_are_validated(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    config = {"providers": [{"name": "cheap", "baseUrl": second.url}]}
    proxy = await start_with(start_proxy, tmp_path, config, upstream_url=fake.url)
    await client(proxy).messages.create(**ask("claude-haiku-4-5"))
    assert len(fake.requests_to("/v1/messages")) == 1  # no routes yet: the preset
    status, body = await post_config(
        proxy,
        {
            "routes": [
                {"match": {"model": "haiku"}, "targets": ["cheap"]},
                {"targets": ["anthropic"]},
            ]
        },
    )
    assert status == 200 and body["routes"][0]["targets"] == ["cheap"]
    await client(proxy).messages.create(**ask("claude-haiku-4-5-20251001"))
    await client(proxy).messages.create(**ask("claude-opus-4-6"))
    assert len(second.requests_to("/v1/messages")) == 1
    assert len(fake.requests_to("/v1/messages")) == 2
    status, body = await post_config(proxy, {"routes": [{"targets": ["elsewhere"]}]})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "known: anthropic" in body["fields"]["routes.0.targets.0.provider"]
    stored = json.loads((tmp_path / "data" / "config.json").read_text())
    assert stored["routes"][0]["match"] == {"model": "haiku"}  # the rejected patch left no trace


async def test_without_the_operators_token_no_request_may_add_a_provider(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    evil = {
        "providers": [{"name": "evil", "baseUrl": "http://127.0.0.1:9"}],
        "routes": [{"targets": ["evil"]}],
    }
    status, body = await post_config(proxy, evil)
    assert status == 403 and body["error"]["type"] == "permission_error"
    assert "--auth-token" in body["fields"]["providers"]
    assert proxy.state.router.routing.preset == "anthropic"
    status, _ = await post_config(proxy, evil, token="guessed")
    assert status == 403  # no token configured: nobody is the operator


async def test_the_operator_may_add_a_provider(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url, auth_token=TOKEN)
    patch = {"providers": [{"name": "b", "baseUrl": second.url}], "routes": [{"targets": ["b"]}]}
    assert (await post_config(proxy, patch, token="wrong"))[0] == 401
    status, _ = await post_config(proxy, patch, token=TOKEN)
    assert status == 200
    await client(proxy).messages.create(**ask())
    assert len(second.requests_to("/v1/messages")) == 1 and fake.requests_to("/v1/messages") == []


@pytest.mark.usefixtures("keys")
async def test_the_routing_view_and_provider_test(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    config = pool(fake.url)
    config["providers"][0]["keyEnv"].append("ROUTING_TEST_UNSET")
    proxy = await start_with(start_proxy, tmp_path, config)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/config/routing") as r:
            view = await r.json()
        async with http.post(f"{proxy.url}/api/config/providers/team/test") as r:
            probe = await r.json()
        async with http.post(f"{proxy.url}/api/config/providers/nope/test") as r:
            assert r.status == 404
    team = next(p for p in view["providers"] if p["name"] == "team")
    assert [(k["env"], k["set"]) for k in team["keys"]] == [
        ("ROUTING_TEST_KEY_A", True),
        ("ROUTING_TEST_KEY_B", True),
        ("ROUTING_TEST_UNSET", False),
    ]
    assert KEY_A not in json.dumps(view) and view["providersEditable"] is False
    assert (
        probe["ok"] and probe["status"] == 200 and probe["key"] == KEY_A[:10] + "..." + KEY_A[-4:]
    )
    assert fake.requests_to("/v1/models", "GET")[-1].headers["x-api-key"] == KEY_A


async def test_the_model_list_answers_from_the_routes(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic
) -> None:
    config = {"routes": [{"match": {"model": "opus"}, "targets": ["anthropic"]}]}
    proxy = await start_with(start_proxy, tmp_path, config, upstream_url=fake.url)
    page = await client(proxy).models.list()
    assert [m.id for m in page.data] == ["claude-opus-4-6"]
    assert fake.requests_to("/v1/models", "GET") == []


async def test_without_routes_the_model_list_passes_through(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    await client(proxy).models.list()
    assert len(fake.requests_to("/v1/models", "GET")) == 1


async def test_a_providers_own_timeout_fails_over_before_the_first_byte(
    start_proxy: StartProxy, tmp_path: Path, fake: FakeAnthropic, second: FakeAnthropic
) -> None:
    config = {
        "providers": [
            {"name": "slow", "baseUrl": fake.url, "timeoutMs": 300},
            {"name": "spare", "baseUrl": second.url},
        ],
        "routes": [{"targets": ["slow", "spare"]}],
    }
    proxy = await start_with(start_proxy, tmp_path, config)
    fake.enqueue(JSONReply(message(text_block("too late")), delay=3))
    second.enqueue(message(text_block("in time")))
    reply = await client(proxy).messages.create(**ask())
    assert reply.content[0].text == "in time"  # type: ignore[union-attr]
    [row] = await proxy.rows(kind="messages")
    attempts = json.loads(row["attempts"])
    assert [(a["provider"], a["error"]) for a in attempts] == [("slow", "timeout"), ("spare", None)]

"""The pure routing core: loading, presets, matching, failover verdicts, health and the walk."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from anthropic_proxy.routing import failover, load, match, preset, walk
from anthropic_proxy.routing.failover import Next
from anthropic_proxy.routing.health import Health
from anthropic_proxy.routing.model import Match, Provider, Route, Routing, Target

PROVIDERS = [
    {
        "name": "team",
        "kind": "anthropic",
        "baseUrl": "https://api.anthropic.com/",
        "keyEnv": ["KEY_A", "KEY_B"],
        "headers": {"x-extra": "1"},
        "timeoutMs": 2500,
    },
    {"name": "cheap", "kind": "openai", "baseUrl": "http://127.0.0.1:9/v1x"},
]
ROUTES = [
    {
        "name": "subagents",
        "match": {"model": "haiku", "agent": "subagent"},
        "targets": [{"provider": "cheap", "model": "deepseek/deepseek-chat"}],
    },
    {"name": "big", "match": {"minInputTokens": 1000, "thinking": True}, "targets": ["cheap"]},
    {"match": {}, "targets": ["team", {"provider": "anthropic"}]},
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def seeded(providers: object = PROVIDERS, routes: object = ROUTES) -> Routing:
    known = preset.seed_providers(["https://api.anthropic.com"], "https://openrouter.ai/api")
    configured = load.parse(providers, routes, known)
    return preset.build(
        "anthropic", ["https://api.anthropic.com"], "https://openrouter.ai/api", configured
    )


def test_parse_reads_every_field_and_round_trips() -> None:
    routing = seeded()
    team = routing.providers["team"]
    assert team == Provider(
        "team",
        "anthropic",
        "https://api.anthropic.com",
        ("KEY_A", "KEY_B"),
        (("x-extra", "1"),),
        2.5,
    )
    assert routing.providers["cheap"].client_key
    assert routing.routes[0].match == Match(("haiku",), "subagent")
    assert routing.routes[2].targets == (Target("team"), Target("anthropic"))
    again = load.dump(
        load.parse(PROVIDERS, ROUTES, preset.seed_providers(["https://x"], "https://y"))
    )
    assert (
        load.dump(
            load.parse(
                again["providers"],
                again["routes"],
                preset.seed_providers(["https://x"], "https://y"),
            )
        )
        == again
    )
    assert again["routes"][2]["name"] == "route 3"


@pytest.mark.parametrize(
    ("providers", "routes", "field", "words"),
    [
        ([{"name": "a", "baseUrl": "ftp://x"}], [], "providers.0.baseUrl", "http"),
        ([{"name": "a", "baseUrl": "https://u:p@x"}], [], "providers.0.baseUrl", "credentials"),
        (
            [{"name": "a", "baseUrl": "https://x", "apiKey": "sk-ant-123"}],
            [],
            "providers.0.apiKey",
            "environment",
        ),
        (
            [{"name": "a", "baseUrl": "https://x", "keyEnv": ["sk-ant-api03-abc"]}],
            [],
            "providers.0.keyEnv",
            "never stored",
        ),
        (
            [{"name": "a", "baseUrl": "https://x", "headers": {"Authorization": "Bearer x"}}],
            [],
            "providers.0.headers.Authorization",
            "never stored",
        ),
        (
            [{"name": "a", "baseUrl": "https://x", "kind": "gemini"}],
            [],
            "providers.0.kind",
            "anthropic, openai",
        ),
        (
            [{"name": "a", "baseUrl": "https://x"}, {"name": "a", "baseUrl": "https://y"}],
            [],
            "providers.1.name",
            "duplicate",
        ),
        ([], [{"targets": ["nowhere"]}], "routes.0.targets.0.provider", "known: anthropic"),
        ([], [{"targets": []}], "routes.0.targets", "1 to 10"),
        (
            [],
            [{"match": {"agent": "robot"}, "targets": ["anthropic"]}],
            "routes.0.match.agent",
            "subagent",
        ),
        (
            [],
            [{"match": {"minInputTokens": -1}, "targets": ["anthropic"]}],
            "routes.0.match.minInputTokens",
            "whole",
        ),
        (
            [],
            [{"match": {"colour": 1}, "targets": ["anthropic"]}],
            "routes.0.match.colour",
            "unknown",
        ),
        (
            [{"name": "a", "baseUrl": "https://x", "timeoutMs": 0}],
            [],
            "providers.0.timeoutMs",
            "milliseconds",
        ),
    ],
)
def test_parse_rejects_with_a_field_and_a_reason(
    providers: object, routes: object, field: str, words: str
) -> None:
    with pytest.raises(load.RoutingError) as caught:
        load.parse(
            providers, routes, preset.seed_providers(["https://api.anthropic.com"], "https://o")
        )
    assert words in caught.value.fields[field]


def test_upstream_list_is_a_client_key_failover_chain() -> None:
    urls = preset.upstream_urls(" https://a.example/ ,https://b.example,, ")
    assert urls == ("https://a.example", "https://b.example")
    routing = preset.build("", urls, "https://openrouter.ai/api")
    assert routing.preset == "anthropic" and not routing.needs_body
    (route,) = routing.routes
    assert [t.provider for t in route.targets] == ["anthropic", "anthropic-2"]
    assert all(routing.providers[t.provider].client_key for t in route.targets)
    assert routing.providers["anthropic-2"].base_url == "https://b.example"


def test_openrouter_mode_is_one_translated_route_with_the_seed_mapping() -> None:
    routing = preset.build(
        "openrouter", ["https://api.anthropic.com"], "https://openrouter.ai/api/"
    )
    (route,) = routing.routes
    assert route.targets == (Target("openrouter"),)  # model None: the seed mapping picks it
    provider = routing.providers["openrouter"]
    assert (provider.kind, provider.base_url, provider.key_env) == (
        "openai",
        "https://openrouter.ai/api",
        ("OPENROUTER_API_KEY",),
    )


def test_configured_routes_replace_the_preset_but_not_its_providers() -> None:
    routing = seeded()
    assert routing.preset == "" and routing.needs_body
    assert {"anthropic", "openrouter", "team", "cheap"} <= set(routing.providers)
    no_routes = seeded(PROVIDERS, [])
    assert no_routes.preset == "anthropic" and "team" in no_routes.providers


@pytest.mark.parametrize(
    ("pattern", "model", "expected"),
    [
        ("haiku", "claude-haiku-4-5-20251001", True),
        ("sonnet", "claude-haiku-4-5", False),
        ("claude-opus-*", "Claude-Opus-4-6[1m]", True),
        ("claude-opus-4-6", "claude-opus-4-6[1m]", True),
        ("claude-opus-4-6", "claude-opus-4-5", False),
        ("gpt-4o", "gpt-4o", True),
    ],
)
def test_model_patterns(pattern: str, model: str, expected: bool) -> None:
    assert match.model_matches(pattern, model) is expected


def test_traits_and_choice() -> None:
    routing = seeded()
    sub = CIMultiDict({"X-Claude-Code-Agent-Id": "agent-1"})
    body = {"model": "claude-haiku-4-5", "max_tokens": 10}
    assert match.choose(routing, match.traits(sub, body, 100)).name == "subagents"  # type: ignore[union-attr]
    main = match.traits(CIMultiDict(), body, 100)
    assert not main.subagent and match.choose(routing, main).name == "route 3"  # type: ignore[union-attr]
    thinking = {
        "model": "claude-opus-4-6",
        "thinking": {"type": "enabled", "budget_tokens": 5},
        "tools": [{"name": "x"}],
    }
    big = match.traits(CIMultiDict(), thinking, 8000)
    assert big.thinking and big.tools and big.input_tokens == 2000
    assert match.choose(routing, big).name == "big"  # type: ignore[union-attr]
    assert match.choose(routing, match.traits(CIMultiDict(), thinking, 400)).name == "route 3"  # type: ignore[union-attr]
    assert (
        match.choose(Routing(routes=(Route("x", Match(("opus",)), (Target("a"),)),)), main) is None
    )


def test_verdicts() -> None:
    now = 1_700_000_000.0
    h = CIMultiDict
    assert failover.on_status(200, h(), now).next is Next.SERVE
    assert failover.on_status(400, h(), now).next is Next.SERVE
    assert failover.on_status(401, h(), now).next is Next.SERVE
    overloaded = failover.on_status(529, h({"retry-after": "7"}), now)
    assert (overloaded.next, overloaded.error, overloaded.retry_after_s) == (
        Next.TARGET,
        "http_529",
        7.0,
    )
    assert failover.on_status(503, h(), now).next is Next.TARGET
    limited = failover.on_status(429, h({"retry-after-ms": "1500", "retry-after": "9"}), now)
    assert (limited.next, limited.error, limited.retry_after_s) == (Next.KEY, "http_429", 1.5)
    date = failover.on_status(429, h({"Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"}), now)
    assert date.retry_after_s == pytest.approx(20.0)
    spent = failover.on_status(
        429,
        h(
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-5h-status": "allowed",
                "anthropic-ratelimit-unified-7d-status": "rejected",
                "anthropic-ratelimit-unified-7d-reset": str(int(now) + 86400),
            }
        ),
        now,
    )
    assert (spent.next, spent.error, spent.spent_until) == (Next.KEY, "quota", now + 86400)
    assert failover.on_connect_error(True).error == "timeout"
    assert failover.retry_after(h({"retry-after": "-3"}), now) is None
    assert failover.retry_after(h({"retry-after": "999999"}), now) == failover.RETRY_AFTER_CAP_S
    assert failover.parse_reset("2023-11-14T22:13:40Z", now) == pytest.approx(now + 20)


def test_breaker_opens_after_repeated_failures_and_closes_on_success() -> None:
    clock = Clock()
    health = Health(clock, threshold=2, cooldown_s=10, max_cooldown_s=25)
    health.failed("a", "http_529")
    assert not health.target_open("a")
    health.failed("a", "http_529")
    assert health.target_open("a") and health.snapshot()["targets"]["a"]["state"] == "open"
    clock.now += 10.5
    assert not health.target_open("a")
    assert health.snapshot()["targets"]["a"]["state"] == "half_open"
    health.failed("a", "connect")  # the half-open trial failed: a doubled cool-down
    assert health.open_until("a") == clock.now + 20
    health.failed("a", "connect")
    assert health.open_until("a") == clock.now + 25  # capped
    health.succeeded("a")
    assert not health.target_open("a") and health.circuits["a"].failures == 0
    health.failed("b", "http_529", retry_after_s=40)  # retry-after alone opens it
    assert health.open_until("b") == clock.now + 40


def routing_with_pool() -> Routing:
    providers = [
        {"name": "pool", "baseUrl": "https://a.example", "keyEnv": ["K1", "K2", "K_UNSET"]},
        {"name": "spare", "baseUrl": "https://b.example"},
    ]
    return load.parse(providers, [{"targets": ["pool", {"provider": "spare", "model": "m"}]}])


ENV = {"K1": "sk-ant-api03-first-key-0001", "K2": "sk-ant-api03-second-key-0002"}


def test_walk_orders_keys_then_targets_and_follows_verdicts() -> None:
    routing, health = routing_with_pool(), Health(Clock())
    plan = walk.steps(routing, routing.routes[0], health, "client-secret-key-123456", ENV)
    assert [(s.target.label, s.key_name) for s in plan] == [
        ("pool", "K1"),
        ("pool", "K2"),
        ("spare/m", "client"),
    ]
    assert plan[0].key_label == "sk-ant-api...0001"
    limited = failover.on_status(429, CIMultiDict(), 0)
    overloaded = failover.on_status(529, CIMultiDict(), 0)
    assert walk.following(plan, 0, limited) == 1
    assert walk.following(plan, 0, overloaded) == 2  # a provider failure skips its other keys
    assert walk.following(plan, 2, overloaded) is None  # the last: serve what it said
    assert walk.following(plan, 1, failover.on_status(200, CIMultiDict(), 0)) is None


def test_a_limited_key_is_benched_until_retry_after_and_a_spent_one_until_reset() -> None:
    clock = Clock()
    routing, health = routing_with_pool(), Health(clock)
    route = routing.routes[0]
    plan = walk.steps(routing, route, health, "", ENV)
    walk.record(
        health, plan[0], failover.on_status(429, CIMultiDict({"retry-after": "30"}), clock.now)
    )
    spent = CIMultiDict(
        {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(int(clock.now) + 3600),
        }
    )
    walk.record(health, plan[1], failover.on_status(429, spent, clock.now))
    assert [s.key_name for s in walk.steps(routing, route, health, "", ENV)] == ["client"]
    assert {k["reason"] for k in health.snapshot()["benchedKeys"]} == {"http_429", "quota"}
    assert "sk-ant-api03-first" not in str(health.snapshot())
    clock.now += 31
    assert [s.key_name for s in walk.steps(routing, route, health, "", ENV)] == ["K1", "client"]
    clock.now += 3600
    assert len(walk.steps(routing, route, health, "", ENV)) == 3


def test_when_every_step_waits_the_soonest_is_tried_anyway() -> None:
    clock = Clock()
    routing = preset.build("anthropic", ["https://a", "https://b"], "https://o")
    health = Health(clock, threshold=1, cooldown_s=100)
    route = routing.routes[0]
    health.failed("anthropic", "http_529")
    clock.now += 10
    health.failed("anthropic-2", "http_529")
    assert [s.target.label for s in walk.steps(routing, route, health, "k", {})] == ["anthropic"]
    single = preset.build("anthropic", ["https://a"], "https://o")
    assert len(walk.steps(single, single.routes[0], health, "k", {})) == 1  # never refused


def test_an_unset_pool_is_a_step_without_a_key() -> None:
    routing = routing_with_pool()
    plan = walk.steps(routing, routing.routes[0], Health(Clock()), "", {})
    assert (plan[0].key, plan[0].key_name) == (None, "K1,K2,K_UNSET")


def test_published_models_follow_unconditional_routes() -> None:
    from anthropic_proxy.routing.published import published

    routing = seeded(
        PROVIDERS,
        [
            {"match": {"agent": "subagent"}, "targets": ["cheap"]},  # conditional: not listed
            {"match": {"model": ["opus", "my-model-1", "claude-*"]}, "targets": ["team"]},
            {"targets": [{"provider": "cheap", "model": "m2"}]},
        ],
    )
    models = {m["id"]: m["display_name"] for m in published(routing)}
    assert models == {
        "claude-opus-4-6": "claude-opus-4-6 via team",
        "my-model-1": "my-model-1 via team",
        "claude-sonnet-4-6": "claude-sonnet-4-6 via cheap/m2",
        "claude-haiku-4-5": "claude-haiku-4-5 via cheap/m2",
    }


def test_the_readme_recipes_load() -> None:
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    recipes = re.findall(r"\*\*Recipe \d.*?```json\n(.*?)```", readme, re.S)
    assert len(recipes) == 3
    known = preset.seed_providers(["https://api.anthropic.com"], "https://openrouter.ai/api")
    for text in recipes:
        config = json.loads(text)
        routing = load.parse(config.get("providers"), config["routes"], known)
        assert routing.routes


def test_a_bad_upstream_in_the_chain_is_one_clear_line_at_start() -> None:
    from anthropic_proxy.cli import refuse_reason
    from anthropic_proxy.settings import load as load_settings

    good = load_settings({"upstream_url": "https://a.example,http://127.0.0.1:9"}, environ={})
    assert refuse_reason(good) is None
    bad = load_settings({"upstream_url": "https://a.example,ftp://b"}, environ={})
    reason = refuse_reason(bad)
    assert reason is not None and "'ftp://b'" in reason and "\n" not in reason

"""/api/config/* on the real app: validation, persistence, live mode switch, key protection,
backend probes and the self-test, against fake backends on loopback."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import (
    FakeOpenAI,
    JSONReply,
    RecordedRequest,
    completion,
    openai_error,
    tool_call,
)
from tests.translated.conftest import BACKEND_KEY


async def call(
    proxy: RunningProxy, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, proxy.url + path, json=body) as response,
    ):
        return response.status, await response.json()


async def test_get_config_never_shows_the_key(translating: RunningProxy) -> None:
    status, config = await call(translating, "GET", "/api/config")
    assert status == 200 and config["proxyMode"] == "openrouter"
    assert (
        config["openrouter"]["apiKeyConfigured"] is True
        and config["openrouter"]["apiKeySentToBaseUrl"] is True
    )
    assert BACKEND_KEY not in json.dumps(config)
    assert set(config["openrouter"]["modelMapping"]) >= {"sonnet", "opus", "haiku"}


async def test_invalid_patch_gives_field_errors_in_anthropic_shape(
    translating: RunningProxy,
) -> None:
    patch = {
        "proxyMode": "both",
        "openrouter": {
            "baseUrl": "file:///etc",
            "apiKey": "sk-or-x",
            "modelMapping": {"Bad Name": "x"},
        },
        "server": {"port": 1},
    }
    status, body = await call(translating, "POST", "/api/config", patch)
    assert (
        status == 400
        and body["type"] == "error"
        and body["error"]["type"] == "invalid_request_error"
    )
    assert set(body["fields"]) == {
        "proxyMode",
        "openrouter.baseUrl",
        "openrouter.apiKey",
        "openrouter.modelMapping",
        "server",
    }
    assert (await call(translating, "GET", "/api/config"))[1]["proxyMode"] == "openrouter"


async def test_whole_config_posted_back_is_accepted(translating: RunningProxy) -> None:
    _, config = await call(translating, "GET", "/api/config")
    config["openrouter"]["modelMapping"]["sonnet"] = "z-ai/glm-4.6"
    status, updated = await call(translating, "POST", "/api/config", config)
    assert status == 200 and updated["openrouter"]["modelMapping"]["sonnet"] == "z-ai/glm-4.6"
    stored = json.loads((translating.settings.data_path / "config.json").read_text())
    assert stored["openrouter"]["modelMapping"]["sonnet"] == "z-ai/glm-4.6"
    assert BACKEND_KEY not in json.dumps(stored) and "server" not in stored


async def test_mode_switches_at_run_time(
    start_proxy: StartProxy, oai: FakeOpenAI, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(
        mode="openrouter",
        upstream_url=fake.url,
        openrouter_base_url=oai.url,
        openrouter_api_key=BACKEND_KEY,
    )
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-x", max_retries=0)
    await sdk.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "a"}]
    )
    assert len(oai.requests_to("/v1/chat/completions")) == 1
    assert (await call(proxy, "POST", "/api/config", {"proxyMode": "anthropic"}))[0] == 200
    await sdk.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "b"}]
    )
    assert (
        len(fake.requests_to("/v1/messages")) == 1
        and len(oai.requests_to("/v1/chat/completions")) == 1
    )
    await sdk.close()


async def ask(proxy: RunningProxy) -> None:
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-x", max_retries=0)
    await sdk.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "a"}]
    )
    await sdk.close()


async def test_without_the_token_no_request_moves_traffic(
    translating: RunningProxy, oai: FakeOpenAI, fake: FakeAnthropic
) -> None:
    """The reported attack: a local process, no Origin, no token, switches mode and base URL."""
    async with FakeOpenAI() as other:
        attack = {"proxyMode": "openrouter", "openrouter": {"baseUrl": other.url + "/api"}}
        status, body = await call(translating, "POST", "/api/config", attack)
        assert status == 403 and body["error"]["type"] == "permission_error", body
        assert set(body["fields"]) == {"openrouter.baseUrl"}
        assert "OPENROUTER_BASE_URL" in body["fields"]["openrouter.baseUrl"]
        await call(translating, "POST", "/api/config/reset")  # a reset keeps the base URL too
        _, config = await call(translating, "GET", "/api/config")
        assert config["openrouter"]["baseUrl"] == oai.url
        assert config["destinations"]["editable"] is False
        await ask(translating)
        assert other.requests == [] and len(oai.requests_to("/v1/chat/completions")) == 1
        stored = json.loads((translating.settings.data_path / "config.json").read_text())
        assert stored["openrouter"]["baseUrl"] == oai.url


async def test_a_same_value_base_url_and_other_fields_still_save(translating: RunningProxy) -> None:
    _, config = await call(translating, "GET", "/api/config")
    patch = {"openrouter": {"baseUrl": config["openrouter"]["baseUrl"], "defaultModel": "a/b"}}
    status, updated = await call(translating, "POST", "/api/config", patch)
    assert status == 200 and updated["openrouter"]["defaultModel"] == "a/b"


async def test_the_operator_token_may_move_traffic_but_the_key_stays_home(
    start_proxy: StartProxy, oai: FakeOpenAI, fake: FakeAnthropic
) -> None:
    token = "operator-token-0123456789"
    proxy = await start_proxy(
        mode="openrouter", upstream_url=fake.url, openrouter_base_url=oai.url,
        openrouter_api_key=BACKEND_KEY, auth_token=token,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    async with FakeOpenAI() as other, aiohttp.ClientSession(headers=auth) as http:
        patch = {"openrouter": {"baseUrl": other.url + "/"}}
        async with http.post(proxy.url + "/api/config", json=patch) as response:
            config = await response.json()
            assert response.status == 200, config
        assert config["destinations"]["editable"] is True
        assert config["openrouter"]["apiKeySentToBaseUrl"] is False
        await ask(proxy)
        sent = other.requests_to("/v1/chat/completions")[-1]
        assert "authorization" not in {k.lower() for k in sent.headers}
        async with http.post(proxy.url + "/api/config/test-openrouter", json={}) as response:
            assert (await response.json())["valid"] is False
    # the same patch without the token: refused
    async with (
        aiohttp.ClientSession() as http,
        http.post(proxy.url + "/api/config", json=patch) as response,
    ):
        assert response.status == 401


async def test_reset_and_reload(translating: RunningProxy) -> None:
    await call(translating, "POST", "/api/config", {"openrouter": {"defaultModel": "x/y"}})
    path = translating.settings.data_path / "config.json"
    edited = json.loads(path.read_text())
    edited["openrouter"]["modelRules"] = [{"pattern": "claude-fable*", "model": "f/m"}]
    path.write_text(json.dumps(edited))
    status, reloaded = await call(translating, "POST", "/api/config/reload")
    assert status == 200 and reloaded["config"]["openrouter"]["modelRules"] == [
        {"pattern": "claude-fable*", "model": "f/m"}
    ]
    status, reset = await call(translating, "POST", "/api/config/reset")
    assert (
        reset["openrouter"]["defaultModel"] == "anthropic/claude-sonnet-4.6"
        and reset["openrouter"]["modelRules"] == []
    )
    assert reset["proxyMode"] == "openrouter"  # --mode still applies


async def test_key_check_and_model_list(translating: RunningProxy, oai: FakeOpenAI) -> None:
    status, checked = await call(translating, "POST", "/api/config/test-openrouter", {})
    assert status == 200 and checked["valid"] is True and checked["usage"] == 0.42
    status, models = await call(translating, "GET", "/api/config/models")
    assert status == 200 and models["total"] == 3 and models["data"][0]["context_length"] == 200000
    status, found = await call(translating, "GET", "/api/config/models?q=GLM")
    assert [m["id"] for m in found["data"]] == ["z-ai/glm-4.6"]
    assert len(oai.requests_to("/v1/models", "GET")) == 1  # cached for an hour


def _capable_backend(rec: RecordedRequest) -> Any:
    body = rec.json()
    if body["model"].endswith("no-such-model"):
        return JSONReply(openai_error(404, "not_found", "No such model"), 404)
    if body.get("tool_choice") == "required":
        return completion(None, tool_calls=[tool_call("get_weather", {"city": "Paris"})])
    if body.get("reasoning_effort"):
        return completion("no", reasoning="391 = 17 x 23")
    return completion("pong")


async def test_self_test_reports_a_capability_line_per_model(
    translating: RunningProxy, oai: FakeOpenAI
) -> None:
    oai.responder = _capable_backend
    status, report = await call(translating, "POST", "/api/config/self-test")
    assert status == 200 and len(report["models"]) == 3
    for model in report["models"]:
        assert "✗" not in model["capabilities"], model


async def test_health_names_the_backend_in_translation_mode(
    translating: RunningProxy, oai: FakeOpenAI
) -> None:
    status, health = await call(translating, "GET", "/health")
    assert status == 200 and health["mode"] == "openrouter" and health["upstream"] == oai.url
    await call(translating, "POST", "/api/config", {"proxyMode": "anthropic"})
    health = (await call(translating, "GET", "/health"))[1]
    assert health["upstream"] == "https://api.anthropic.com"

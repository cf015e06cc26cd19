"""Through the real app: the shared model list (E36 clamp, E8 images), the max_tokens 1 probe,
web search (E41) with the Anthropic SDK, and what the recorder keeps of a translation (changes,
the backend's own cost)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, ClassVar

import aiohttp
import anthropic
import pytest

from anthropic_proxy.backend import client
from anthropic_proxy.backend.catalog import ModelCatalog, ModelInfo, model_info
from anthropic_proxy.config.runtime import Attribution
from anthropic_proxy.monitor.details import detail
from tests.conftest import RunningProxy, StartProxy
from tests.fakes import openai_upstream
from tests.fakes.anthropic_upstream import RecordedRequest, Reply
from tests.fakes.openai_upstream import (
    FakeOpenAI,
    JSONReply,
    StreamReply,
    completion,
    data,
    openai_error,
)
from tests.translate.grammar import check_grammar, parse_sse
from tests.translated.conftest import BACKEND_KEY
from tests.translated.test_sdk import raw_stream

USER = [{"role": "user", "content": "hi"}]
IMG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
CITES = [
    {"type": "url_citation", "url_citation": {"url": "https://docs.aiohttp.org/", "title": "aiohttp"}},
    {"type": "url_citation", "url_citation": {"url": "https://pypi.org/p/aiohttp", "title": "PyPI"}},
]  # fmt: skip


@pytest.fixture
def as_openrouter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake backend's host is 127.0.0.1: treat it as OpenRouter (plugins, annotations)."""
    original = client.target_for

    def target_for(*args: Any) -> Any:
        return dataclasses.replace(original(*args), openrouter=True)

    monkeypatch.setattr(client, "target_for", target_for)


async def models_fetched(oai: FakeOpenAI, n: int = 1) -> None:
    async with asyncio.timeout(5):
        while len(oai.requests_to("/v1/models", "GET")) < n:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the response parsed and cached


async def test_max_tokens_clamped_once_the_model_list_is_known(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, translating: RunningProxy
) -> None:
    big = {"model": "claude-sonnet-4-6", "max_tokens": 100000, "messages": USER}
    await client.messages.create(**big, timeout=60)  # type: ignore[arg-type]
    first = oai.requests_to("/v1/chat/completions")[-1].json()
    assert first["max_tokens"] == 64000  # loaded at start-up (or waited for): clamped at once
    await client.messages.create(**big, timeout=60)  # type: ignore[arg-type]
    assert oai.requests_to("/v1/chat/completions")[-1].json()["max_tokens"] == 64000
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{translating.url}/api/config/models") as response,
    ):
        assert response.status == 200 and (await response.json())["total"] == 3
    assert len(oai.requests_to("/v1/models", "GET")) == 1  # one list, shared with the config API
    rows = await translating.rows(2, kind="messages")
    record = detail(translating.state.store, rows[-1])
    assert record["upstream_request"]["max_tokens"] == 64000
    assert (
        "clamped max_tokens 100000 -> 64000 (the model's output limit)"
        in (record["translation_changes"])
    )
    assert record["cost_usd"] == pytest.approx(0.0003)  # the backend's usage.cost
    assert rows[-1]["price_version"] == "backend usage.cost"


class StrictBackend(FakeOpenAI):
    """Like OpenAI or vLLM: 400 over the model's output limit; its model list answers slowly."""

    def default_reply(self, rec: RecordedRequest) -> Reply:
        path = rec.path.removeprefix("/api")
        if rec.method == "GET" and path == "/v1/models":
            return JSONReply(openai_upstream.MODELS, delay=0.5)
        body = rec.json() if rec.method == "POST" and rec.body else {}
        if path == "/v1/chat/completions" and body.get("max_tokens", 0) > 64000:
            error = openai_error(400, "invalid_request_error", "max_tokens is too large: 64000 max")
            return JSONReply(error, 400)
        return super().default_reply(rec)


@pytest.mark.parametrize("stream", [False, True])
async def test_first_request_after_start_up_respects_a_strict_backends_limit(
    start_proxy: StartProxy, stream: bool
) -> None:
    async with StrictBackend() as strict:
        proxy = await start_proxy(
            mode="openrouter", openrouter_base_url=strict.url, openrouter_api_key=BACKEND_KEY
        )  # the model list is still loading (it takes 0.5 s) when the request arrives
        sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-x", max_retries=0)
        big = {"model": "claude-sonnet-4-6", "max_tokens": 128000, "messages": USER}
        if stream:
            async with sdk.messages.stream(**big) as events:  # type: ignore[arg-type]
                message = await events.get_final_message()
        else:
            message = await sdk.messages.create(**big, timeout=60)  # type: ignore[arg-type]
        await sdk.close()
        assert message.stop_reason == "end_turn"
        sent = strict.requests_to("/v1/chat/completions")
        assert [r.json()["max_tokens"] for r in sent] == [64000]  # one try, clamped
        assert len(strict.requests_to("/v1/models", "GET")) == 1


async def test_images_replaced_for_a_text_only_model(
    start_proxy: StartProxy, oai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    text_only = [
        {**m, "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]}}
        for m in openai_upstream.MODELS["data"]
    ]
    monkeypatch.setitem(openai_upstream.MODELS, "data", text_only)
    proxy = await start_proxy(
        mode="openrouter", openrouter_base_url=oai.url, openrouter_api_key=BACKEND_KEY
    )
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-x", max_retries=0)
    ask = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMG]}]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": ask}
    message = await client.messages.create(**body)  # type: ignore[arg-type]
    await client.close()
    assert message.stop_reason == "end_turn"
    sent = oai.requests_to("/v1/chat/completions")[-1].json()
    assert sent["messages"][-1]["content"] == (
        "what is this?\n\n[image omitted: the backend model does not accept images]"
    )


async def test_max_tokens_1_probe_answers_like_anthropic(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, translating: RunningProxy
) -> None:
    oai.enqueue(completion("Hello! How can I help you today?", completion_tokens=9))
    probe = {"model": "claude-sonnet-4-6", "max_tokens": 1, "messages": USER}
    message = await client.messages.create(**probe)  # type: ignore[arg-type]
    assert oai.requests_to("/v1/chat/completions")[-1].json()["max_tokens"] == 16
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 1
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    oai.enqueue(completion("Hello! How can I help you today?", completion_tokens=9))
    status, raw = await raw_stream(translating, {**probe, "stream": True})
    events = parse_sse(raw)
    check_grammar(events)
    assert status == 200 and events[-2][1]["delta"]["stop_reason"] == "max_tokens"


async def test_provider_refusing_a_tiny_max_tokens_becomes_a_max_tokens_reply(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI
) -> None:
    refusal = "Could not finish the message because max_tokens was reached"
    oai.enqueue(JSONReply(openai_error(400, "invalid_request", refusal), 400))
    probe = {"model": "claude-sonnet-4-6", "max_tokens": 1, "messages": USER}
    message = await client.messages.create(**probe)  # type: ignore[arg-type]
    assert message.stop_reason == "max_tokens" and message.content == []
    oai.enqueue(JSONReply(openai_error(400, "invalid_request", refusal), 400))
    with pytest.raises(anthropic.BadRequestError):  # a normal request keeps the error
        await client.messages.create(**{**probe, "max_tokens": 100})  # type: ignore[arg-type]


def search_reply(stream: bool) -> Any:
    reply = completion("aiohttp 4 is not out yet.", prompt_tokens=900, completion_tokens=12)
    reply["choices"][0]["message"]["annotations"] = CITES
    reply["usage"]["server_tool_use_details"] = {"web_search_requests": 1}
    if not stream:
        return reply
    base = {"id": reply["id"], "object": "chat.completion.chunk", "created": 1767000000}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    return StreamReply(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "aiohttp 4 is "}),
            chunk({"content": "not out yet."}),
            chunk({"annotations": CITES}, "stop"),
            data({**base, "choices": [], "usage": reply["usage"]}),
            b"data: [DONE]\n\n",
        ]
    )


async def test_web_search_non_stream(
    client: anthropic.AsyncAnthropic,
    oai: FakeOpenAI,
    translating: RunningProxy,
    as_openrouter: None,
) -> None:
    oai.enqueue(search_reply(stream=False))
    ask = [{"role": "user", "content": "Perform a web search for the query: aiohttp 4 release"}]
    message = await client.messages.create(
        model="claude-sonnet-4-6", max_tokens=1000, messages=ask, tools=[SEARCH]
    )  # type: ignore[arg-type,list-item]
    assert oai.requests_to("/v1/chat/completions")[-1].json()["plugins"] == [
        {"id": "web", "max_results": 5}
    ]
    kinds = [b.type for b in message.content]
    assert kinds == ["server_tool_use", "web_search_tool_result", "text"]
    call, result = message.content[0], message.content[1]
    assert call.input == {"query": "aiohttp 4 release"}  # type: ignore[union-attr]
    assert result.tool_use_id == call.id  # type: ignore[union-attr]
    urls = [r.url for r in result.content]  # type: ignore[union-attr]
    assert urls == ["https://docs.aiohttp.org/", "https://pypi.org/p/aiohttp"]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    record = detail(translating.state.store, (await translating.rows(kind="messages"))[-1])
    assert (
        "mapped the web_search server tool to OpenRouter's web plugin"
        in (record["translation_changes"])
    )


async def test_web_search_stream(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, as_openrouter: None
) -> None:
    oai.enqueue(search_reply(stream=True))
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1000, messages=USER, tools=[SEARCH]
    ) as stream:  # type: ignore[arg-type,list-item]
        message = await stream.get_final_message()
    kinds = [b.type for b in message.content]
    assert kinds == ["text", "server_tool_use", "web_search_tool_result"]
    assert message.content[1].input == {"query": "hi"}  # type: ignore[union-attr]
    assert message.usage.server_tool_use.web_search_requests == 1  # type: ignore[union-attr]


async def test_web_search_stream_grammar(
    translating: RunningProxy, oai: FakeOpenAI, as_openrouter: None
) -> None:
    oai.enqueue(search_reply(stream=True))
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "stream": True, "messages": USER}
    status, raw = await raw_stream(translating, {**body, "tools": [SEARCH]})
    assert status == 200
    check_grammar(parse_sse(raw))


# -- the catalog on its own


class _Store:
    base_url = ""
    attribution: ClassVar = Attribution(http_referer="http://x", title="t")

    def backend_key(self, url: str) -> str:
        return "k"


async def test_catalog_never_waits_backs_off_after_failure_and_serves_stale(
    oai: FakeOpenAI,
) -> None:
    now = [0.0]
    async with aiohttp.ClientSession() as http:
        catalog = ModelCatalog(_Store(), lambda: http, clock=lambda: now[0])  # type: ignore[arg-type]
        assert catalog.lookup(oai.url, "openai/gpt-5.2") is None  # returns at once
        await models_fetched(oai)
        assert catalog.lookup(oai.url, "openai/gpt-5.2") == ModelInfo(64000, None)
        now[0] = 3601.0  # stale: still served, refreshed in the background
        assert catalog.lookup(oai.url, "openai/gpt-5.2") == ModelInfo(64000, None)
        await models_fetched(oai, 2)
        missing = f"{oai.url}/nowhere"
        assert catalog.lookup(missing, "m") is None
        await asyncio.sleep(0.2)
        assert catalog.lookup(missing, "m") is None  # failed a moment ago: no new fetch
        await asyncio.sleep(0.1)
        assert len(oai.requests_to("/nowhere/v1/models", "GET")) == 1
        await catalog.close()


def test_model_info_reads_limits_and_modalities() -> None:
    entry = {
        "top_provider": {"max_completion_tokens": 8192},
        "architecture": {"input_modalities": ["text", "image"]},
    }
    assert model_info(entry) == ModelInfo(8192, True)
    assert model_info({"top_provider": {"max_completion_tokens": None}}) == ModelInfo(None, None)
    assert model_info({"architecture": {"input_modalities": ["text"]}}).images is False


def test_journal_keeps_translation_changes_and_cost(tmp_path: Any) -> None:
    from anthropic_proxy.exchange import Capture
    from anthropic_proxy.record import journal

    capture = Capture("ex_1", "POST", "/v1/messages", "", "127.0.0.1", [], b"{}", mode="openrouter")
    capture.upstream_request = {"model": "m", "messages": []}
    capture.translation_changes, capture.upstream_cost_usd = ["dropped speed"], 0.25
    capture.finish("success")
    log = journal.Journal(tmp_path)
    log.append(capture)
    log.close()
    [entry] = journal.replay(journal.segment(tmp_path, 0))
    back = entry.capture
    assert (back.translation_changes, back.upstream_cost_usd) == (["dropped speed"], 0.25)


def test_rows_recorded_before_keep_their_bare_upstream_body() -> None:
    from anthropic_proxy.monitor.details import _upstream

    body = {"model": "m", "messages": []}
    assert _upstream(body) == (body, [], [])
    assert _upstream({"request": body, "changes": ["x"]}) == (body, ["x"], [])
    raw = [[0.01, 'data: {"choices": []}\n\n']]
    assert _upstream({"request": body, "changes": [], "response": raw}) == (body, [], raw)
    assert _upstream(None) == (None, [], [])


AWS_KEY = "AKIAHARD7QZXC4VB2N8M"


async def test_detail_keeps_each_event_and_the_backends_raw_stream_scrubbed(
    client: anthropic.AsyncAnthropic, oai: FakeOpenAI, translating: RunningProxy
) -> None:
    oai.enqueue(completion(f"the key is {AWS_KEY} ok"))
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, messages=USER
    ) as stream:
        await stream.get_final_message()
    [row] = await translating.rows(1, kind="messages")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{translating.url}/api/monitor/requests/{row['id']}") as response,
    ):
        x = await response.json()
    assert len(x["events"]) == len(x["timeline"]) > 4
    labels = [entry[1] for entry in x["timeline"]]
    first_text = x["events"][labels.index("text_delta")]
    assert json.loads(first_text)["type"] == "content_block_delta"
    raw = "".join(text for _, text in x["upstream_response"])
    assert "chat.completion.chunk" in raw and "data: [DONE]" in raw
    assert all(isinstance(at, float) for at, _ in x["upstream_response"])
    shown = json.dumps(x)
    assert AWS_KEY not in shown  # the events and the raw stream are scrubbed like the body

"""Chunks in, events out: one test per streaming edge case of protocol.md §5.7 and §6."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anthropic_proxy.translate import reasoning
from anthropic_proxy.translate.stream import (
    StreamContext,
    StreamInterrupted,
    openai_stream_to_anthropic_sse,
)
from tests.translate.grammar import check_grammar, parse_sse, summary

Chunk = dict[str, Any] | bytes


def data(chunk: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(chunk)}\n\n".encode()


def delta(finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": "gen-1", "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def call(
    index: int, id: str | None = None, name: str | None = None, args: Any = None
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {}}
    if id:
        fragment["id"], fragment["type"] = id, "function"
    if name:
        fragment["function"]["name"] = name
    if args is not None:
        fragment["function"]["arguments"] = args
    return fragment


def usage(
    prompt: int = 50, completion: int = 7, cached: int = 0, written: int = 0
) -> dict[str, Any]:
    details = {"cached_tokens": cached, "cache_write_tokens": written}
    return {
        "id": "gen-1",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": details,
        },
    }


DONE = b"data: [DONE]\n\n"
CTX = StreamContext(model="claude-sonnet-4-6", message_id="msg_test", input_tokens=10)


async def _source(raw: bytes, fail: StreamInterrupted | None = None) -> AsyncIterator[bytes]:
    yield raw
    if fail is not None:
        raise fail


async def translate(
    chunks: list[Chunk], ctx: StreamContext = CTX, fail: StreamInterrupted | None = None
) -> list[tuple[str, dict[str, Any]]]:
    raw = b"".join(c if isinstance(c, bytes) else data(c) for c in chunks)
    out = b"".join([e async for e in openai_stream_to_anthropic_sse(_source(raw, fail), ctx)])
    events = parse_sse(out)
    check_grammar(events)
    return events


async def run(chunks: list[Chunk], ctx: StreamContext = CTX) -> list[str]:
    return summary(await translate(chunks, ctx))


def final_usage(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return next(d for n, d in events if n == "message_delta")["usage"]


async def test_plain_text_with_openrouter_framing() -> None:
    chunks: list[Chunk] = [
        b": OPENROUTER PROCESSING\n\n",
        delta(role="assistant", content=""),
        delta(content="Hel"),
        delta(content="lo"),
        delta("stop"),
        usage(),
        DONE,
    ]
    assert await run(chunks) == ["start text", "text Hel", "text lo", "stop", "end end_turn"]


async def test_message_start_echoes_requested_model_and_ping_follows() -> None:
    events = await translate([delta(content="x"), delta("stop"), DONE])
    assert events[0][1]["message"]["model"] == "claude-sonnet-4-6"
    assert events[0][1]["message"]["usage"]["input_tokens"] == 10
    assert events[1][0] == "ping"


async def test_e6_empty_content_never_opens_a_block() -> None:
    chunks: list[Chunk] = [
        delta(role="assistant", content=""),
        delta(content=""),
        delta("stop"),
        DONE,
    ]
    assert await run(chunks) == ["end end_turn"]


async def test_e16_interleaved_parallel_tool_calls_are_emitted_whole_in_order() -> None:
    chunks: list[Chunk] = [
        delta(content="Reading both."),
        delta(tool_calls=[call(0, "call_a", "Read", ""), call(1, "call_b", "Grep", '{"pat')]),
        delta(tool_calls=[call(0, args='{"file_path":')]),
        delta(tool_calls=[call(1, args='tern": "x"}')]),
        delta(tool_calls=[call(0, args=' "a.py"}')]),
        delta("tool_calls"),
        usage(),
        DONE,
    ]
    assert await run(chunks) == [
        "start text",
        "text Reading both.",
        "stop",
        "start tool_use Read",
        'json {"file_path":"a.py"}',
        "stop",
        "start tool_use Grep",
        'json {"pattern":"x"}',
        "stop",
        "end tool_use",
    ]


async def test_e16_several_calls_in_one_chunk_with_whole_arguments() -> None:
    chunks: list[Chunk] = [
        delta(tool_calls=[call(0, "c1", "A", '{"x": 1}'), call(1, "c2", "B", '{"y": 2}')]),
        delta("tool_calls"),
        DONE,
    ]
    assert await run(chunks) == [
        "start tool_use A",
        'json {"x": 1}',
        "stop",
        "start tool_use B",
        'json {"y": 2}',
        "stop",
        "end tool_use",
    ]


@pytest.mark.parametrize(
    ("fragments", "sent"),
    [
        pytest.param(['{"a":', " 1}"], ["{", '"a": 1}'], id="E14-fragments-streamed"),
        pytest.param(['{"a": 1}'], ['{"a": 1}'], id="E14-whole"),
        pytest.param(
            ['{"a":', '{"a": 1', '{"a": 1}'], ["{", '"a": 1', "}"], id="E14-cumulative-snapshots"
        ),
        pytest.param(['{"a": 1}', '{"a": 1}'], ['{"a": 1}'], id="E14-sent-twice"),
        pytest.param(['"{\\"a\\": 1}"'], ['{"a":1}'], id="E14-json-in-a-string-assembled"),
        pytest.param(
            ['{"a": "unterminated'], ['{"a": "unterminated', '"}'], id="E14-cut-off-closed"
        ),
        pytest.param(["not json"], ["{}"], id="E14-garbage-becomes-empty"),
        pytest.param([""], ["{}"], id="E15-empty-arguments"),
        pytest.param([], ["{}"], id="E15-no-arguments"),
    ],
)
async def test_tool_arguments(fragments: list[str], sent: list[str]) -> None:
    """A call's object arguments stream piece by piece as they arrive; what does not start as
    an object is assembled; either way the pieces join into the object the model meant."""
    chunks: list[Chunk] = [delta(tool_calls=[call(0, "c1", "Bash")])]
    chunks += [delta(tool_calls=[call(0, args=f)]) for f in fragments]
    assert await run([*chunks, delta("tool_calls"), DONE]) == [
        "start tool_use Bash",
        *(f"json {piece}" for piece in sent),
        "stop",
        "end tool_use",
    ]
    assert isinstance(json.loads("".join(sent)), dict)


def tool_inputs(events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Each tool_use block's input as a client assembles it from its input_json_deltas."""
    inputs: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use":
            inputs[data["index"]] = ""
        elif name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            inputs[data["index"]] += data["delta"]["partial_json"]
    return [json.loads(text) for _, text in sorted(inputs.items())]


async def test_a_long_tool_input_streams_as_it_arrives() -> None:
    """A file being written: its content reaches the client fragment by fragment; a key waits
    for its value (a prefix is sent only when closing it gives valid JSON)."""
    line = "print(1)\\n"  # JSON-escaped, as the model sends it
    head, body, tail = '{"file_path": "a.py", "content": "', [line * 5] * 40, '"}'
    chunks: list[Chunk] = [delta(tool_calls=[call(0, "c1", "Write", "")])]
    chunks += [delta(tool_calls=[call(0, args=p)]) for p in [head, *body, tail]]
    events = await translate([*chunks, delta("tool_calls"), DONE])
    deltas = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert deltas == [head, *body, tail]
    assert tool_inputs(events) == [{"file_path": "a.py", "content": "print(1)\n" * 200}]


@pytest.mark.parametrize(
    ("pieces", "sent"),
    [
        pytest.param(['{"a": tr', "ue}"], ["{", '"a": true}'], id="literal-held"),
        pytest.param(['{"a": 1.', "5}"], ['{"a": 1', ".5}"], id="number-held"),
        pytest.param(['{"a": "x\\', 'ny"}'], ['{"a": "x', '\\ny"}'], id="escape-held"),
        pytest.param(['{"a": [1, ', "2]}"], ['{"a": [1', ", 2]}"], id="comma-held"),
        pytest.param(['{"a": 1, "b', '": oops'], ['{"a": 1', "}"], id="invalid-cut-back"),
        pytest.param(['{"a": "cut'], ['{"a": "cut', '"}'], id="cut-off-closed"),
    ],
)
async def test_only_prefixes_that_close_validly_are_streamed(
    pieces: list[str], sent: list[str]
) -> None:
    chunks: list[Chunk] = [delta(tool_calls=[call(0, "c1", "Bash")])]
    chunks += [delta(tool_calls=[call(0, args=p)]) for p in pieces]
    events = await translate([*chunks, delta("tool_calls"), DONE])
    assert [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"] == sent
    assert isinstance(tool_inputs(events)[0], dict)


async def test_sequential_calls_each_stream_and_interleaved_ones_are_assembled() -> None:
    chunks: list[Chunk] = [
        delta(tool_calls=[call(0, "a", "Read", '{"file_path":')]),
        delta(tool_calls=[call(0, args=' "a.py"}')]),
        delta(tool_calls=[call(1, "b", "Grep", '{"pattern":')]),  # call 0 is whole: it closes
        delta(tool_calls=[call(2, "c", "Glob", '{"glob":')]),  # call 1 is not: interleaved
        delta(tool_calls=[call(1, args=' "x"}')]),
        delta(tool_calls=[call(2, args=' "*.py"}')]),
        delta("tool_calls"),
        DONE,
    ]
    events = await translate(chunks)
    assert summary(events) == [
        "start tool_use Read", "json {", 'json "file_path": "a.py"}', "stop",
        "start tool_use Grep", "json {", 'json "pattern": "x"}', "stop",
        "start tool_use Glob", 'json {"glob":"*.py"}', "stop",
        "end tool_use",
    ]  # fmt: skip
    assert tool_inputs(events) == [{"file_path": "a.py"}, {"pattern": "x"}, {"glob": "*.py"}]


async def test_e11_tool_ids_are_minted_unique_and_valid() -> None:
    chunks: list[Chunk] = [
        delta(tool_calls=[call(0, "functions.Bash:0", "Bash", "{}")]),
        delta(tool_calls=[call(1, "functions.Bash:0", "Bash", "{}")]),
        delta(tool_calls=[{"function": {"name": "Read", "arguments": "{}"}}]),
        delta("tool_calls"),
        DONE,
    ]
    events = await translate(chunks)
    ids = [d["content_block"]["id"] for n, d in events if n == "content_block_start"]
    assert len(ids) == len(set(ids)) == 3
    assert all(i.startswith("toolu_") and i.replace("_", "").isalnum() for i in ids)


async def test_e13_shortened_tool_names_are_restored() -> None:
    long_name = "mcp__server__" + "x" * 80
    ctx = StreamContext(model="m", message_id="msg_1", tool_names={"short_abc": long_name})
    chunks: list[Chunk] = [
        delta(tool_calls=[call(0, "c", "short_abc", "{}")]),
        delta("tool_calls"),
        DONE,
    ]
    assert (await run(chunks, ctx))[0] == f"start tool_use {long_name}"


async def test_e17_text_after_a_tool_call_opens_a_new_block() -> None:
    chunks: list[Chunk] = [
        delta(content="First."),
        delta(tool_calls=[call(0, "c", "Read", "{}")]),
        delta(reasoning="hmm"),
        delta(content="After."),
        delta("tool_calls"),
        DONE,
    ]
    assert await run(chunks) == [
        "start text", "text First.", "stop",
        "start tool_use Read", "json {}", "stop",  # streamed where it came
        "start thinking", "thinking hmm", "signature", "stop",
        "start text", "text After.", "stop",
        "end tool_use",
    ]  # fmt: skip


async def test_tool_use_wins_over_stop_when_calls_were_made() -> None:
    chunks: list[Chunk] = [delta(tool_calls=[call(0, "c", "Read", "{}")]), delta("stop"), DONE]
    assert (await run(chunks))[-1] == "end tool_use"


@pytest.mark.parametrize(
    ("choice_extra", "stops", "expected"),
    [
        pytest.param(
            {"native_finish_reason": "stop_sequence"},
            ("END",),
            "end stop_sequence END",
            id="E18-native",
        ),
        pytest.param(
            {"stop_reason": "###"}, ("END", "###"), "end stop_sequence ###", id="E18-vllm-matched"
        ),
        pytest.param(
            {"native_finish_reason": "stop_sequence"},
            ("A", "B"),
            "end end_turn",
            id="E18-ambiguous",
        ),
        pytest.param({}, ("END",), "end end_turn", id="E18-unproven"),
    ],
)
async def test_e18_stop_sequences(
    choice_extra: dict[str, Any], stops: tuple[str, ...], expected: str
) -> None:
    ctx = StreamContext(model="m", message_id="msg_1", stop_sequences=stops)
    finish = {
        "id": "g",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", **choice_extra}],
    }
    assert (await run([delta(content="x"), finish, DONE], ctx))[-1] == expected


async def test_e19_length_keeps_partial_tool_block() -> None:
    chunks: list[Chunk] = [
        delta(tool_calls=[call(0, "c", "Write", '{"path": "a", "text": "abc')]),
        delta("length"),
        DONE,
    ]
    events = await translate(chunks)
    assert summary(events) == [
        "start tool_use Write",
        'json {"path": "a", "text": "abc',
        'json "}',  # what the cut-off left open, closed
        "stop",
        "end max_tokens",
    ]
    assert tool_inputs(events) == [{"path": "a", "text": "abc"}]


async def test_e20_content_filter_is_a_refusal_with_stop_details() -> None:
    events = await translate([delta(content="I can't"), delta("content_filter"), DONE])
    message_delta = next(d for n, d in events if n == "message_delta")
    assert message_delta["delta"]["stop_reason"] == "refusal"
    assert message_delta["delta"]["stop_details"]["type"] == "refusal"


async def test_e20_refusal_delta_becomes_text_and_refusal() -> None:
    assert await run([delta(refusal="No."), delta("stop"), DONE]) == [
        "start text",
        "text No.",
        "stop",
        "end refusal",
    ]


async def test_e21_content_and_finish_in_one_chunk() -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {"content": "all at once"}, "finish_reason": "stop"}],
        "usage": usage()["usage"],
    }
    assert await run([chunk, DONE]) == ["start text", "text all at once", "stop", "end end_turn"]


async def test_e25_thinking_gets_its_signature_before_it_closes() -> None:
    detail = {
        "type": "reasoning.text",
        "text": "Let me",
        "format": "anthropic-claude-v1",
        "index": 0,
    }
    signed = {"type": "reasoning.text", "text": " think", "signature": "sig-1", "index": 0}
    chunks: list[Chunk] = [
        delta(reasoning="Let me", reasoning_details=[detail]),
        delta(reasoning=" think", reasoning_details=[signed]),
        delta(content="Answer"),
        delta("stop"),
        DONE,
    ]
    events = await translate(chunks)
    assert summary(events) == [
        "start thinking",
        "thinking Let me",
        "thinking  think",
        "signature",
        "stop",
        "start text",
        "text Answer",
        "stop",
        "end end_turn",
    ]
    signature = next(
        d["delta"]["signature"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "signature_delta"
    )
    assert reasoning.unpack(signature) == [
        {
            "type": "reasoning.text",
            "text": "Let me think",
            "format": "anthropic-claude-v1",
            "index": 0,
            "signature": "sig-1",
        }
    ]


async def test_e25_encrypted_reasoning_alone_is_a_redacted_thinking_block() -> None:
    secret = {"type": "reasoning.encrypted", "data": "opaque", "index": 0}
    events = await translate(
        [delta(reasoning_details=[secret]), delta(content="ok"), delta("stop"), DONE]
    )
    assert summary(events)[:3] == ["start redacted_thinking", "stop", "start text"]
    block = events[2][1]["content_block"]
    assert reasoning.unpack(block["data"]) == [secret]


async def test_e26_reasoning_details_win_over_the_plain_string() -> None:
    detail = {"type": "reasoning.summary", "summary": "Plan", "index": 0}
    chunks: list[Chunk] = [delta(reasoning="Plan", reasoning_details=[detail]), delta("stop"), DONE]
    assert await run(chunks) == [
        "start thinking",
        "thinking Plan",
        "signature",
        "stop",
        "end end_turn",
    ]


async def test_e27_reasoning_the_client_did_not_ask_for_is_dropped() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", thinking=False)
    chunks: list[Chunk] = [
        delta(reasoning="hidden"),
        delta(reasoning_content="also"),
        delta(content="Hi"),
        delta("stop"),
        DONE,
    ]
    assert await run(chunks, ctx) == ["start text", "text Hi", "stop", "end end_turn"]


async def test_e29_crlf_comments_and_multiline_data() -> None:
    raw = b': keepalive\r\n\r\ndata: {"choices":[{"index":0,\r\ndata: "delta":{"content":"hi"}}]}\r\n\r\n'
    assert await run([raw, delta("stop"), DONE]) == [
        "start text",
        "text hi",
        "stop",
        "end end_turn",
    ]


async def test_e30_usage_after_finish_reaches_message_delta_with_cache_counts() -> None:
    events = await translate(
        [delta(content="x"), delta("stop"), usage(1000, 12, cached=800, written=100), DONE]
    )
    assert final_usage(events) == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 800,
        "output_tokens": 12,
    }


async def test_e31_eof_without_finish_is_an_error_not_end_turn() -> None:
    assert await run([delta(content="partial")]) == [
        "start text",
        "text partial",
        "stop",
        "error api_error",
    ]


async def test_e31_done_without_finish_is_an_error() -> None:
    assert await run([delta(content="partial"), DONE]) == [
        "start text",
        "text partial",
        "stop",
        "error api_error",
    ]


async def test_finish_without_done_still_completes() -> None:
    assert await run([delta(content="x"), delta("stop"), usage()]) == [
        "start text",
        "text x",
        "stop",
        "end end_turn",
    ]


async def test_e32_missing_usage_is_estimated_never_zero() -> None:
    ctx = StreamContext(model="m", message_id="msg_1", input_tokens=1, estimate_input=lambda: 4321)
    events = await translate([delta(content="some words here"), delta("stop"), DONE], ctx)
    assert final_usage(events)["input_tokens"] == 4321
    assert final_usage(events)["output_tokens"] > 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            {
                "code": 502,
                "message": "Provider disconnected",
                "metadata": {"error_type": "provider_unavailable"},
            },
            "api_error",
            id="int-code",
        ),
        pytest.param({"code": "server_error", "message": "boom"}, "api_error", id="string-code"),
        pytest.param({"code": 429, "message": "slow down"}, "rate_limit_error", id="429"),
        pytest.param(
            {"code": 503, "message": "busy", "metadata": {"error_type": "provider_overloaded"}},
            "overloaded_error",
            id="overloaded",
        ),
    ],
)
async def test_e33_mid_stream_error_closes_the_block_and_ends_with_error(
    error: dict[str, Any], expected: str
) -> None:
    failing = {
        "id": "g",
        "error": error,
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    chunks: list[Chunk] = [
        delta(reasoning="thinking"),
        failing,
        delta(content="ignored"),
        delta("stop"),
        DONE,
    ]
    assert await run(chunks) == [
        "start thinking",
        "thinking thinking",
        "signature",
        "stop",
        f"error {expected}",
    ]


async def test_finish_reason_error_without_an_error_object() -> None:
    assert (await run([delta(content="x"), delta("error"), DONE]))[-1] == "error api_error"


async def test_chunks_after_done_are_never_read() -> None:
    assert await run([delta(content="x"), delta("stop"), DONE, delta(content="late")]) == [
        "start text",
        "text x",
        "stop",
        "end end_turn",
    ]


async def test_malformed_chunk_is_an_error() -> None:
    assert (await run([delta(content="x"), b"data: {not json\n\n", delta("stop"), DONE]))[
        -1
    ] == "error api_error"


async def test_interrupted_connection_is_an_error_event() -> None:
    events = await translate([delta(content="x")], fail=StreamInterrupted("timeout_error", "idle"))
    assert summary(events) == ["start text", "text x", "stop", "error timeout_error"]


async def test_several_reasoning_parts_become_several_thinking_blocks() -> None:
    chunks: list[Chunk] = [
        delta(reasoning="a"),
        delta(content="b"),
        delta(reasoning="c"),
        delta(content="d"),
        delta("stop"),
        DONE,
    ]
    starts = [s for s in await run(chunks) if s.startswith("start")]
    assert starts == ["start thinking", "start text", "start thinking", "start text"]

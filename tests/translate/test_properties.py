"""Property tests: any valid chunk sequence gives a grammatical stream, however the bytes are
split; any Anthropic request gives an OpenAI request that respects the tool-ordering rule."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anthropic_proxy.translate.request import Target, anthropic_to_openai_request
from anthropic_proxy.translate.stream import StreamContext, openai_stream_to_anthropic_sse
from tests.translate.grammar import check_grammar, parse_sse

CTX = StreamContext(
    model="claude-opus-4-6", message_id="msg_prop", input_tokens=3, estimate_input=lambda: 7
)
TEXT = st.text(alphabet=st.sampled_from(list('ab é漢🙂\n"{}\\')), min_size=0, max_size=8)

op = st.one_of(
    st.tuples(st.just("content"), TEXT),
    st.tuples(st.just("reasoning"), TEXT),
    st.tuples(st.just("detail"), TEXT),
    st.tuples(st.just("encrypted"), TEXT),
    st.tuples(st.just("refusal"), TEXT),
    st.tuples(st.just("tool"), st.tuples(st.integers(0, 2), TEXT)),
    st.tuples(st.just("comment"), TEXT),
)
ending = st.fixed_dictionaries(
    {
        "finish": st.sampled_from(
            [None, "stop", "length", "tool_calls", "content_filter", "error"]
        ),
        "usage": st.booleans(),
        "done": st.booleans(),
        "error_at": st.one_of(st.none(), st.integers(0, 20)),
    }
)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {"id": "g", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def render(ops: list[tuple[str, Any]], end: dict[str, Any]) -> bytes:
    out: list[bytes] = [
        b": OPENROUTER PROCESSING\r\n\r\n",
        _chunk({"role": "assistant", "content": ""}),
    ]
    seen: set[int] = set()
    for number, (kind, value) in enumerate(ops):
        if end["error_at"] == number:
            error = {
                "code": 502,
                "message": "gone",
                "metadata": {"error_type": "provider_unavailable"},
            }
            out.append(f"data: {json.dumps({'error': error, 'choices': []})}\n\n".encode())
        out.append(_op(kind, value, seen))
    if end["finish"]:
        out.append(_chunk({}, end["finish"]))
    if end["usage"]:
        usage = {
            "prompt_tokens": 20,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 4},
        }
        out.append(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
    if end["done"]:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _op(kind: str, value: Any, seen: set[int]) -> bytes:
    if kind == "comment":
        return f": {value.replace(chr(10), ' ')}\n\n".encode()
    if kind in ("content", "reasoning", "refusal"):
        return _chunk({kind: value})
    if kind == "detail":
        return _chunk(
            {"reasoning_details": [{"type": "reasoning.text", "text": value, "index": 0}]}
        )
    if kind == "encrypted":
        return _chunk(
            {"reasoning_details": [{"type": "reasoning.encrypted", "data": value, "index": 1}]}
        )
    index, args = value
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if index not in seen:
        seen.add(index)
        fragment |= {"id": f"call_{index}", "type": "function"}
        fragment["function"]["name"] = f"tool{index}"
    return _chunk({"tool_calls": [fragment]})


async def _pieces(raw: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    edges = [0, *sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]
    for start, stop in itertools.pairwise(edges):
        yield raw[start:stop]


async def translate(raw: bytes, cuts: list[int]) -> bytes:
    return b"".join([e async for e in openai_stream_to_anthropic_sse(_pieces(raw, cuts), CTX)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(op, max_size=20), end=ending, cuts=st.lists(st.integers(0, 10_000), max_size=30)
)
async def test_any_chunk_sequence_any_split_gives_the_same_grammatical_stream(
    ops: list[tuple[str, Any]], end: dict[str, Any], cuts: list[int]
) -> None:
    raw = render(ops, end)
    whole = await translate(raw, [])
    assert await translate(raw, cuts) == whole
    assert await translate(raw, list(range(len(raw)))) == whole  # one byte at a time
    check_grammar(parse_sse(whole))


block_text = st.text(alphabet=st.sampled_from(list("ab \n")), max_size=5)
user_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, block_text),
    st.just(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
    ),
    st.builds(
        lambda i, t, e: {
            "type": "tool_result",
            "tool_use_id": f"t{i}",
            "content": t,
            "is_error": e,
        },
        st.integers(0, 4),
        block_text,
        st.booleans(),
    ),
    st.builds(
        lambda i: {
            "type": "tool_result",
            "tool_use_id": f"t{i}",
            "content": [{"type": "image", "source": {"type": "url", "url": "https://x/i.png"}}],
        },
        st.integers(0, 4),
    ),
)
assistant_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, block_text),
    st.builds(
        lambda i: {
            "type": "tool_use",
            "id": f"t{i}",
            "name": "Bash" if i % 2 else "m" * 70,
            "input": {"i": i},
        },
        st.integers(0, 4),
    ),
    st.builds(
        lambda t: {"type": "thinking", "thinking": t, "signature": "anthropic-sig"}, block_text
    ),
)
message = st.one_of(
    st.builds(
        lambda c: {"role": "user", "content": c},
        st.one_of(block_text, st.lists(user_block, max_size=4)),
    ),
    st.builds(lambda c: {"role": "assistant", "content": c}, st.lists(assistant_block, max_size=4)),
    st.builds(lambda t: {"role": "system", "content": t}, block_text),
)


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(message, max_size=8), openrouter=st.booleans())
def test_any_anthropic_request_gives_a_valid_openai_request(
    messages: list[dict[str, Any]], openrouter: bool
) -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "messages": messages,
        "system": "sys",
        "tools": [{"name": "m" * 70, "input_schema": {"type": "object"}}],
    }
    out = anthropic_to_openai_request(body, Target(model="b/m", openrouter=openrouter)).body
    json.dumps(out)
    chat = out["messages"]
    assert any(m["role"] in ("user", "assistant") for m in chat)
    for number, m in enumerate(chat):
        assert m["role"] in ("system", "user", "assistant", "tool")
        if m["role"] == "assistant":
            assert m.get("tool_calls") or m["content"], "an empty assistant message"
            ids = [c["id"] for c in m.get("tool_calls", [])]
            answers = [x["tool_call_id"] for x in chat[number + 1 : number + 1 + len(ids)]]
            assert answers == ids, "tool calls must be answered right after, in order"
            assert all(len(c["function"]["name"]) <= 64 for c in m.get("tool_calls", []))
        if m["role"] == "tool":
            previous = chat[number - 1]
            assert previous["role"] == "tool" or previous.get("tool_calls"), (
                "a tool message out of place"
            )
        if m["role"] == "user" and isinstance(m["content"], list):
            assert all(p["type"] != "text" or p["text"].strip() for p in m["content"])
    assert not any(chat[i]["role"] == chat[i + 1]["role"] == "user" for i in range(len(chat) - 1))

"""Reading a body without parsing what its conversation's last turn sent (`storage.resent`):
whatever the bytes, it reads the body JSON parsing reads and splits it as a split without any
memo does; for Claude Code's compact JSON it parses only what the turn adds."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.exchange import Capture, State
from anthropic_proxy.record import journal
from anthropic_proxy.record.writer import Retention, Writer
from anthropic_proxy.storage import bodies, open_store, resent
from anthropic_proxy.storage.bodies import join
from tests.storage.test_store import (
    Edit,
    claude_code_turns,
    json_values,
    next_messages,
    turn_edits,
)

MARK = {"type": "ephemeral"}


def spellings(body: dict[str, Any], rng: random.Random) -> bytes:
    """The body as a client might send it: compact as Claude Code (orjson's bytes), with
    Python's spaces, ASCII-escaped, or its keys in another order."""
    kind = rng.randrange(4)
    if kind == 3:
        keys = list(body)
        rng.shuffle(keys)
        return orjson.dumps({k: body[k] for k in keys})
    if kind == 0:
        return orjson.dumps(body)
    return json.dumps(body, ensure_ascii=kind == 2).encode()


def read_as_parsing_does(raw: bytes, memo: bodies.Memo) -> None:
    """Small bodies are parsed whole (`resent.WHOLE_BELOW`): these are read as large ones."""
    body, split = resent.read(raw, memo, whole_below=0)
    expected = orjson.loads(raw)
    assert body == expected
    assert list(body) == list(expected)  # the key order too: the skeleton keeps it
    assert split == bodies.split_body(expected)
    assert bodies.join(*bodies.split(body)[:1], {**split.parts, **nodes(split)}.get) == expected


def remember(body: dict[str, Any], memo: bodies.Memo) -> None:
    resent.read(orjson.dumps(body), memo, whole_below=0)


def nodes(split: bodies.Split) -> dict[str, bytes]:
    return {h: bodies.node_json(p, m) for h, p, m in split.nodes}


chat_message = (
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.text(max_size=3)
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.just("text"), "text": st.text(max_size=4)},
                    optional={"cache_control": st.just(MARK)},
                ),
                max_size=3,
            ),
        }
    )
    | json_values
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(chat_message, min_size=1, max_size=6),
    turn_edits(chat_message),
    st.randoms(use_true_random=False),
)
def test_a_body_reads_as_parsing_reads_it_whatever_the_turns_and_spelling(
    start: list[Any], turns: list[Edit], rng: random.Random
) -> None:
    """Turns that keep, cut, rewrite or extend the conversation, change or keep the system and
    the tools, spelled compactly or not: each reads as `orjson.loads` reads it, splits as
    without a memo and rebuilds."""
    memo = bodies.Memo(size=2)
    messages = list(start)
    system: Any = "s"
    tools: Any = [{"name": "t"}]
    for edit in turns:
        messages = next_messages(messages, edit, start)
        system = edit[3] if rng.random() < 0.3 else system
        tools = edit[4] if rng.random() < 0.3 else tools
        body = {"model": "m", "messages": messages, "system": system, "tools": tools}
        read_as_parsing_does(spellings(body, rng), memo)


def conversation() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"type": "text", "text": "first " * 50}]},
        {"role": "assistant", "content": "second " * 50},
    ]


def test_the_same_bytes_nested_elsewhere_are_not_taken_for_the_turns() -> None:
    """The last turn's first message inside a `messages` key nested in the system prompt (sent
    before the conversation), its system prompt inside a new message's tool input, its tools
    (a number) the start of a longer number: each body still reads as parsing reads it."""
    first = conversation()
    memo = bodies.Memo()
    system = [{"type": "text", "text": "rules"}]
    remember({"messages": first, "system": system, "tools": 1}, memo)
    nested = {"system": {"messages": first}, "messages": [*first, {"role": "user"}]}
    read_as_parsing_does(orjson.dumps(nested), memo)
    remember({"messages": first, "system": system, "tools": 1}, memo)
    tool_use = {"role": "assistant", "content": [{"type": "tool_use", "input": {"system": system}}]}
    moved = {"messages": [*first, tool_use], "tools": 12, "system": [{"type": "text", "text": "x"}]}
    read_as_parsing_does(orjson.dumps(moved), memo)
    remember({"messages": [1, 2], "tools": 1}, memo)
    read_as_parsing_does(orjson.dumps({"messages": [12, 2], "tools": 1}), memo)
    read_as_parsing_does(orjson.dumps({"messages": [1, 23], "tools": 1}), memo)


def test_a_claude_code_turn_parses_only_what_it_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claude Code's bodies (compact JSON, a system prompt and tools, history growing, the cache
    mark on the newest message): from the second turn on, what is parsed is the new messages
    and the skeleton, a small share of the body, and each body reads as parsing reads it."""
    turns = claude_code_turns(12)
    for turn in turns:
        for message in turn["messages"]:
            message["content"][-1].pop("cache_control", None)
        turn["messages"][-1]["content"][-1]["cache_control"] = MARK
    raws = [orjson.dumps(t) for t in turns]
    memo = bodies.Memo()
    parsed: list[int] = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda data: parsed.append(len(data)) or loads(data))
    for i, (raw, turn) in enumerate(zip(raws, turns, strict=True)):
        parsed.clear()
        body, split = resent.read(raw, memo)  # the bodies are over `WHOLE_BELOW` from turn 1
        assert body == turn
        assert split == bodies.split_body(turn)
        if i:
            added = orjson.dumps(turn["messages"][len(turns[i - 1]["messages"]) :])
            assert sum(parsed) < len(added) + 300 < len(raw) // 5, (sum(parsed), len(added))


def test_a_writer_records_a_claude_code_conversation_whole_across_a_restart(
    tmp_path: Path,
) -> None:
    """A Claude Code conversation through the recorder's writer, restarted half way: every
    body rebuilds from the store as sent, and each row's preview and project are the turn's
    own (read from messages the writer did not parse)."""
    turns = claude_code_turns(10)
    env = {"role": "system", "content": "# Environment\n - Primary working directory: /w/shop\n"}
    for turn in turns:
        turn["messages"].insert(1, env)
    store = open_store("", tmp_path)
    store.open()
    writer = Writer(store, scrub=True, retention=Retention())
    for i, turn in enumerate(turns):
        if i == 6:
            writer = Writer(store, scrub=True, retention=Retention())
        c = Capture(f"ex_{i}", "POST", "/v1/messages", "", "127.0.0.1", [], orjson.dumps(turn))
        c.finish(State.SUCCESS)
        writer.write([journal.Entry("finish", c, i + 1)], i + 1)
    for i, turn in enumerate(turns):
        [row] = store.fetch(
            "SELECT request_ref, preview, project FROM exchanges WHERE id = ?", [f"ex_{i}"]
        )
        assert join(row["request_ref"], store.blob) == turn
        asked = [m for m in turn["messages"] if m["role"] == "user"][-1]["content"][0]["text"]
        assert row["preview"] == f"{asked[:300]}\n→"  # no answer: the capture has no reply
        assert row["project"] == "/w/shop"
    store.close()

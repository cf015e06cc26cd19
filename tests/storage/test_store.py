"""The SQLite store: persistence, crash recovery, content-addressed growth, retention."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.storage import bodies
from anthropic_proxy.storage.sqlite import SQLiteStore
from tests.conftest import API_KEY, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block

WORDS = [
    "def",
    "class",
    "return",
    "import",
    "self",
    "value",
    "result",
    "error",
    "config",
    "request",
    "response",
    "token",
    "stream",
]


def code_like(rng: random.Random, n_words: int) -> str:
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(n_words // 8)]
    return "\n".join(f"    {line}  # {rng.randrange(10**6)}" for line in lines)


def claude_code_turns(turns: int, seed: int = 7) -> list[dict[str, Any]]:
    """Bodies shaped like Claude Code's: a big system prompt and tools, history growing each turn."""
    rng = random.Random(seed)
    system = [
        {"type": "text", "text": code_like(rng, 1500), "cache_control": {"type": "ephemeral"}}
    ]
    tools = [
        {"name": f"Tool{i}", "description": code_like(rng, 80), "input_schema": {"type": "object"}}
        for i in range(15)
    ]
    history: list[dict[str, Any]] = []
    out = []
    for turn in range(turns):
        history.append(
            {
                "role": "user",
                "content": [{"type": "text", "text": f"turn {turn}: " + code_like(rng, 200)}],
            }
        )
        out.append(
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 1024,
                "system": system,
                "tools": tools,
                "messages": list(history),
            }
        )
        history.append(
            {"role": "assistant", "content": [{"type": "text", "text": code_like(rng, 120)}]}
        )
    return out


async def test_growing_conversation_stores_linearly(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=API_KEY, max_retries=0)
    turns = claude_code_turns(60)
    for body in turns:
        fake.enqueue(message(text_block("ok")))
        await sdk.messages.create(**body)
    rows = await proxy.rows(60)
    raw_sent = sum(len(r.body) for r in fake.requests)
    unique = len(json.dumps(turns[-1]).encode())  # the last turn holds every distinct part
    blob_bytes = sum(
        r["n"] for r in proxy.state.store.fetch("SELECT SUM(LENGTH(data)) AS n FROM blobs")
    )
    assert raw_sent > 25 * unique  # what storing bodies as they come would cost
    assert blob_bytes < unique  # compressed, each part stored once
    assert all(
        bodies.join(r["request_ref"], proxy.state.store.blob) == t
        for r, t in zip(rows, turns, strict=True)
    )


async def test_restart_keeps_history_and_marks_pending_interrupted(
    start_proxy: StartProxy, fake: FakeAnthropic, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=API_KEY, max_retries=0)
    await sdk.messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "one"}]
    )
    [done] = await proxy.rows()
    proxy.state.store.write([{**done, "id": "ex_crashed", "state": "pending", "status": None}], {})
    await proxy.stop()
    again = await start_proxy(upstream_url=fake.url)
    states = {
        r["id"]: r["state"] for r in again.state.store.fetch("SELECT id, state FROM exchanges")
    }
    assert states == {done["id"]: "success", "ex_crashed": "interrupted"}


def test_prune_by_count_and_age_drops_orphan_blobs(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db")
    store.open()
    now = time.time()
    for i in range(30):
        split = bodies.split_body(
            {"messages": [{"role": "user", "content": f"m{i}"}], "model": "m"}
        )
        row = {
            "id": f"ex_{i:03d}",
            "started_at": now - 1000 + i,
            "kind": "messages",
            "mode": "anthropic",
            "stream": 0,
            "method": "POST",
            "path": "/v1/messages",
            "query": "",
            "state": "success",
            "request_ref": split.ref,
            "blob_refs": split.refs,
            "tip": split.tip,
            "request_bytes": 1,
            "response_bytes": 0,
            "stored_bytes": 0,
        }
        store.write([row], split.parts, split.nodes)
    assert (
        store.fetch("SELECT COUNT(*) AS n FROM blobs")[0]["n"] == 60
    )  # a message and a skeleton each
    while store.prune(max_records=10, max_age_s=0, max_bytes=0, batch=7):
        pass
    store.sweep()
    ids = [r["id"] for r in store.fetch("SELECT id FROM exchanges ORDER BY id")]
    assert ids == [f"ex_{i:03d}" for i in range(20, 30)]
    assert (
        store.fetch("SELECT COUNT(*) AS n FROM blobs")[0]["n"] == 20
    )  # the pruned ones' blobs are gone
    store.prune(max_records=0, max_age_s=975, max_bytes=0)
    assert [r["id"] for r in store.fetch("SELECT id FROM exchanges ORDER BY id")] == [
        f"ex_{i:03d}" for i in range(26, 30)
    ]  # older than 975 s gone


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["system", "tools", "messages", "model", "x"]), json_values
        ),
    )
)
def test_split_join_is_json_equal(body: Any) -> None:
    ref, parts = bodies.split(body)
    assert bodies.join(ref, parts.get) == json.loads(json.dumps(body))


blocks = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "tool_result"]), "text": st.text(max_size=5)},
        optional={"cache_control": st.sampled_from([{"type": "ephemeral"}, {"ttl": "1h"}, None])},
    )
    | json_values,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant"]), "content": blocks | st.text()}
        ),
        max_size=5,
    )
)
def test_moving_cache_marks_rebuild_json_equal(messages: list[Any]) -> None:
    """`cache_control` is kept apart from the message it marks (Claude Code moves it every turn):
    the body still rebuilds JSON-equal."""
    body = {"model": "m", "messages": messages}
    ref, parts = bodies.split(body)
    assert bodies.join(ref, parts.get) == json.loads(json.dumps(body))


def test_a_moved_cache_mark_stores_the_message_once() -> None:
    marked = {"type": "text", "text": "file", "cache_control": {"type": "ephemeral"}}
    plain = {"type": "text", "text": "file"}
    turn1 = bodies.split_body({"messages": [{"role": "user", "content": [marked]}]})
    turn2 = bodies.split_body(
        {"messages": [{"role": "user", "content": [plain]}, {"role": "user", "content": [marked]}]}
    )
    assert turn2.nodes[0] == turn1.nodes[0]  # the same first message, the same chain node


chat_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]), "content": blocks | st.text(max_size=3)}
)


Edit = tuple[int, list[Any], Any, Any, Any]


def turn_edits(message: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Edit]]:
    """Turns of a conversation, each as (messages kept, messages added, one message rewritten
    or None, a system, tools): see `next_messages`."""
    return st.lists(
        st.tuples(
            st.integers(0, 6),
            st.lists(message, max_size=2),
            st.none() | st.tuples(st.integers(0, 6), message),
            json_values,
            json_values,
        ),
        min_size=1,
        max_size=6,
    )


def next_messages(messages: list[Any], edit: Edit, start: list[Any]) -> list[Any]:
    """The conversation after one turn's edit: cut, extended, one message rewritten (back to
    `start` when nothing is left)."""
    keep, added, rewrite, _, _ = edit
    messages = messages[:keep] + added or start
    if rewrite is not None and len(messages) > 1:
        messages[rewrite[0] % len(messages)] = rewrite[1]
    return messages


@settings(max_examples=200, deadline=None)
@given(st.lists(chat_message, min_size=1, max_size=6), turn_edits(chat_message))
def test_a_memo_of_earlier_turns_changes_no_split(start: list[Any], turns: list[Edit]) -> None:
    """Turns that keep, cut, rewrite (one message in the middle) or extend the conversation,
    and change its system and tools, split the same with the memo of the turns before as
    without: the hashes it hands out are those of the same bytes. Each turn's body also still
    rebuilds JSON-equal."""
    memo = bodies.Memo(size=2)
    messages = list(start)
    for edit in turns:
        messages = next_messages(messages, edit, start)
        system, tools = edit[3], edit[4]
        body = {"model": "m", "system": system, "tools": tools, "messages": messages}
        assert bodies.split_body(body, memo) == bodies.split_body(body)
        ref, parts = bodies.split(body)
        assert bodies.join(ref, parts.get) == json.loads(json.dumps(body))


def test_a_memo_hashes_only_what_the_turn_added(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second turn of a conversation hashes its new message, its node and its skeleton:
    the system, the tools and the messages the first turn sent take the first turn's hashes."""
    old = [{"role": "user", "content": "a" * 1000}, {"role": "assistant", "content": "b" * 1000}]
    new = {"role": "user", "content": "c"}
    system, tools = [{"type": "text", "text": "s" * 500}], [{"name": "t" * 500}]
    memo = bodies.Memo()
    bodies.split_body({"system": system, "tools": tools, "messages": old}, memo)
    hashed: list[bytes] = []
    real = bodies.digest
    monkeypatch.setattr(bodies, "digest", lambda data: hashed.append(data) or real(data))
    bodies.split_body({"system": system, "tools": tools, "messages": [*old, new]}, memo)
    assert len(hashed) == 3, hashed  # the new message, its node, the skeleton

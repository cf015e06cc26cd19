"""The store holds Claude Code sessions in less space than their unique content, losslessly.

Five Claude-Code-shaped sessions of 60 turns go through the real proxy with the official SDK,
streamed: a big system prompt and tools, every turn a tool result with a file's content and an
assistant reply that the next turn sends back, and `cache_control` moving to the last message
each turn (as Claude Code does, so the message before it changes every turn too). The data
dir (database, WAL, journal) is measured with `du` semantics (allocated blocks) once the
recorder is idle and again after the proxy stopped; both must be at most the unique content,
and every request and response must rebuild JSON-equal, also after a restart.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import anthropic

from anthropic_proxy.monitor import details
from tests.conftest import API_KEY, StartProxy, journal_bytes
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block, usage

SESSIONS, TURNS = 5, 60
WORDS = (
    "def class return import self value result error config request response token stream "
    "async await yield lambda assert raise except finally with open path print len range"
).split()


def code(rng: random.Random, lines: int) -> str:
    return "\n".join(
        f"    {' '.join(rng.choice(WORDS) for _ in range(7))}  # {rng.randrange(10**6)}"
        for _ in range(lines)
    )


def session(seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The request bodies of one session, and the assistant text answering each."""
    rng = random.Random(seed)
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": code(rng, 300), "cache_control": {"type": "ephemeral"}},
    ]
    tools = [
        {"name": f"Tool{i}", "description": code(rng, 12),
         "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
        for i in range(18)
    ]  # fmt: skip
    history: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": f"session {seed}: fix the bug"}]}
    ]
    bodies, replies = [], []
    for turn in range(TURNS):
        messages = json.loads(json.dumps(history))
        messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        bodies.append(
            {"model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True,
             "system": system, "tools": tools, "messages": messages,
             "metadata": {"user_id": f"user_{seed}_account__session_{seed}"}}
        )  # fmt: skip
        reply = f"Turn {turn}: I read the file.\n" + code(rng, 12)
        replies.append(reply)
        history.append({"role": "assistant", "content": [{"type": "text", "text": reply}]})
        history.append(
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{seed}_{turn}",
                 "content": code(rng, 140)}]}
        )  # fmt: skip
    return bodies, replies


def allocated(directory: Path) -> int:
    """What `du` counts: the blocks each file occupies."""
    return sum(p.stat().st_blocks * 512 for p in directory.rglob("*") if p.is_file())


async def idle_size(directory: Path) -> int:
    """The data dir once the recorder is idle: its last report has freed the journal and it
    has folded the WAL back."""
    for _ in range(500):  # bounded: 10 s
        wal = directory / "exchanges.db-wal"
        # Size and blocks: right after the checkpoint's truncate the file system may still
        # count the WAL's old blocks for a moment (seen as 0 bytes, 16 MB allocated).
        folded = not wal.exists() or wal.stat().st_size == wal.stat().st_blocks == 0
        if folded and journal_bytes(directory) == 0:
            return allocated(directory)
        await asyncio.sleep(0.02)
    raise AssertionError("the WAL was not checkpointed while idle")


async def test_sessions_take_less_space_than_their_unique_content(
    start_proxy: StartProxy, fake: FakeAnthropic
) -> None:
    proxy = await start_proxy(upstream_url=fake.url)
    data = proxy.settings.data_path
    sent: list[tuple[dict[str, Any], str]] = []
    unique = 0
    for s in range(SESSIONS):
        bodies, replies = session(s)
        sdk = anthropic.AsyncAnthropic(
            base_url=proxy.url, api_key=API_KEY, max_retries=0,
            default_headers={"x-claude-code-session-id": f"session-{s}"},
        )  # fmt: skip
        for body, reply in zip(bodies, replies, strict=True):
            fake.enqueue(message(text_block(reply), usage_=usage(input_tokens=9, output_tokens=9)))
            params = {k: v for k, v in body.items() if k != "stream"}
            async with sdk.messages.stream(**params) as stream:
                assert (await stream.get_final_message()).content[0].text == reply  # type: ignore[union-attr]
            sent.append((body, reply))
        # The last turn holds every distinct part (system, tools, every message and, as the
        # assistant messages, every reply but the last): the session's unique content.
        unique += len(json.dumps(bodies[-1]).encode()) + len(replies[-1].encode())
    raw = sum(len(r.body) for r in fake.requests)
    rows = await proxy.rows(SESSIONS * TURNS, timeout=60)
    assert len(rows) == SESSIONS * TURNS
    idle = await idle_size(data)
    await proxy.stop()
    stopped = allocated(data)
    print(f"raw {raw:,} unique {unique:,} idle {idle:,} stopped {stopped:,} bytes")
    assert raw > 25 * unique  # what storing each body as it came would cost
    assert idle <= unique, (idle, unique)
    assert stopped <= unique, (stopped, unique)

    again = await start_proxy(upstream_url=fake.url)  # a restart reads the same store
    stored = await again.rows(SESSIONS * TURNS)
    by_text = {reply: body for body, reply in sent}
    for row in stored:
        record = details.get_exchange(again.state.store, row["id"])
        assert record is not None
        reply = record["response"]["content"][0]["text"]
        assert record["request"] == by_text[reply]  # JSON-equal, every turn of every session

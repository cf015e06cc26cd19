"""The recorder's cost per exchange on Claude-Code-shaped traffic (issue 14's yardstick).

Builds a fixed set of finished Captures, as the journal hands them to the recorder: sessions whose
conversation grows a turn at a time (tool results, MCP tools, a system prompt naming the working
directory), streamed replies carrying rate-limit headers. Then times `Writer.write` over them in
batches, into a fresh SQLite store, a few times, and prints the best run's microseconds per
exchange. Run it before and after a change to the recorder:

    .venv/bin/python bench/usage_recorder.py [--sessions 20] [--turns 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from anthropic_proxy.exchange import Capture
from anthropic_proxy.record.journal import Entry
from anthropic_proxy.record.writer import Retention, Writer
from anthropic_proxy.storage import open_store

BATCH = 64
TOOLS = [
    {"name": n, "description": "d " * 200, "input_schema": {"type": "object", "properties": {}}}
    for n in ("Bash", "Read", "Edit", "Grep", "mcp__github__search", "mcp__db__query")
]


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


def reply(turn: int) -> list[bytes]:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 900 * turn, "output_tokens": 1}
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{turn}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": usage,
        },
    }
    return [
        sse("message_start", start),
        sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        *(
            sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f"word{i} "},
                },
            )
            for i in range(20)
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 40},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]


def captures(sessions: int, turns: int) -> list[Capture]:
    out = []
    for s in range(sessions):
        system = [
            {
                "type": "text",
                "text": "You are Claude Code. " * 300
                + f"\n<env>\nWorking directory: /home/me/project{s % 4}\n</env>",
            }
        ]
        messages: list[dict[str, Any]] = []
        for t in range(turns):
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"t{t}",
                            "content": f"line {t} " * 250,
                        }
                    ],
                }
                if t
                else {"role": "user", "content": "fix the bug"}
            )
            body = {
                "model": "claude-sonnet-4-5",
                "max_tokens": 8000,
                "stream": True,
                "system": system,
                "tools": TOOLS,
                "messages": list(messages),
            }
            chunks = reply(t)
            c = Capture(
                id=f"ex_{s:04d}_{t:04d}",
                method="POST",
                path="/v1/messages",
                query="",
                client_addr="127.0.0.1",
                request_headers=[
                    ("x-claude-code-session-id", f"sess-{s}"),
                    ("x-api-key", "sk-ant-api03-" + "x" * 80),
                ],
                request_body=orjson.dumps(body),
                started_at=1_750_000_000.0 + s * 1000 + t,
                status=200,
                response_headers=[
                    ("content-type", "text/event-stream"),
                    ("anthropic-ratelimit-unified-5h-utilization", f"{t / turns:.3f}"),
                    ("anthropic-ratelimit-unified-5h-reset", "1750018000"),
                    ("anthropic-ratelimit-unified-5h-status", "allowed"),
                    ("anthropic-ratelimit-unified-7d-utilization", "0.31"),
                    ("anthropic-ratelimit-unified-7d-reset", "1750500000"),
                    ("request-id", f"req_{s}_{t}"),
                ],
                t_headers=0.2,
                chunks=chunks,
                chunk_times=[0.2 + i * 0.01 for i in range(len(chunks))],
                t_end=0.5,
                state="success",
            )
            out.append(c)
            messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": f"t{t + 1}",
                            "name": "Bash",
                            "input": {"command": "ls"},
                        }
                    ],
                }
            )
    return out


def run_once(caps: list[Capture]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store("", Path(tmp))
        store.open()
        writer = Writer(store, scrub=True, retention=Retention())
        spent = 0.0
        for i in range(0, len(caps), BATCH):
            batch = [Entry("finish", c, 0) for c in caps[i : i + BATCH]]
            t0 = time.perf_counter()
            writer.write(batch, 0)
            spent += time.perf_counter() - t0
        store.close()
    return spent / len(caps) * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--turns", type=int, default=40)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    caps = captures(a.sessions, a.turns)
    runs = [run_once(caps) for _ in range(a.repeat)]
    mb = sum(len(c.request_body) for c in caps) / 1e6
    print(f"{len(caps)} exchanges ({mb:.0f} MB of request bodies), batches of {BATCH}")
    print("us/exchange per run: " + ", ".join(f"{r:.0f}" for r in runs) + f"; best {min(runs):.0f}")


if __name__ == "__main__":
    main()

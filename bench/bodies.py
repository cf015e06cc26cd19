"""Claude-Code-like /v1/messages request bodies, deterministic.

* ``small`` ~2 KB: short system prompt, one tool, a three-message exchange.
* ``large`` ~300 KB: what Claude Code sends mid-session: system prompt in text
  blocks with ``cache_control``, ~18 tools with JSON schemas (Bash, Read, Edit...),
  a conversation of user text / assistant ``tool_use`` / user ``tool_result``
  (file listings and source files), ending with a fresh user turn.

Each template contains ``MARK`` inside the *last* message. The "same" variant
replaces it with a constant; the "grow" variant (a growing conversation: every
request ends with a message nobody sent before) replaces it per request with a
unique id, so a content-addressed store can dedupe the prefix but not the body.
"""

# ruff: noqa: UP031  (%-formatting kept: it also formats the bytes protocol lines)
from __future__ import annotations

import json
import random
from typing import Any

MARK = "@@UNIQ@@"
FIXED = "turn-000000000000"  # what MARK becomes in the "same" variant (same length as grow ids)
MODEL = "claude-sonnet-4-5-20250929"

VOCAB = [
    "proxy",
    "request",
    "response",
    "stream",
    "event",
    "token",
    "cache",
    "header",
    "body",
    "upstream",
    "client",
    "server",
    "record",
    "store",
    "sqlite",
    "index",
    "query",
    "page",
    "filter",
    "model",
    "usage",
    "cost",
    "latency",
    "buffer",
    "socket",
    "loop",
    "task",
    "await",
    "async",
    "def",
    "class",
    "return",
    "import",
    "from",
    "self",
    "value",
    "error",
    "retry",
    "timeout",
    "config",
    "setting",
    "path",
    "file",
    "line",
    "test",
    "assert",
    "fixture",
    "bench",
    "the",
    "a",
    "an",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "by",
    "is",
    "are",
    "was",
    "be",
    "this",
    "that",
    "it",
    "as",
    "or",
    "and",
    "not",
]

TOOL_NAMES = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "LS",
    "ExitPlanMode",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
    "KillShell",
    "SlashCommand",
    "mcp__ide__getDiagnostics",
]


def _size(body: dict[str, Any]) -> int:
    return len(_dumps(body))


# The order Claude Code 2.1.329 sends the top-level keys in (read off a body it sent).
ORDER = ("model", "messages", "system", "tools", "metadata", "max_tokens", "temperature", "stream")


def _dumps(body: dict[str, Any]) -> bytes:
    # As Claude Code sends it (JSON.stringify): compact, non-ASCII unescaped, its key order.
    ordered = {k: body[k] for k in ORDER if k in body} | body  # others after, in their order
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def _source(rng: random.Random, nbytes: int, start: int = 1) -> str:
    out, size, n = [], 0, start
    while size < nbytes:
        ind = "    " * rng.randint(0, 3)
        kind = rng.random()
        if kind < 0.15:
            line = f"{ind}def {rng.choice(VOCAB)}_{n}(self, {rng.choice(VOCAB)}):"
        elif kind < 0.3:
            line = f"{ind}# {_text(rng, 9)}"
        else:
            line = "%s%s = %s.%s(%s, %d)" % (
                ind,
                rng.choice(VOCAB),
                rng.choice(VOCAB),
                rng.choice(VOCAB),
                rng.choice(VOCAB),
                n,
            )
        line = "%6d\u2192%s" % (n, line)  # Read's "cat -n" style with the arrow
        out.append(line)
        size += len(line) + 1
        n += 1
    return "\n".join(out)


def _tool(rng: random.Random, name: str) -> dict[str, Any]:
    props = {}
    for j in range(rng.randint(2, 6)):
        props[f"{rng.choice(VOCAB)}_{j}"] = {
            "type": rng.choice(["string", "integer", "boolean", "array"]),
            "description": _text(rng, rng.randint(8, 40)),
        }
    return {
        "name": name,
        "description": _text(rng, rng.randint(60, 260)),
        "input_schema": {
            "type": "object",
            "properties": props,
            "required": sorted(props)[:1],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def large(target: int = 300_000, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    system = [
        {
            "type": "text",
            "text": "You are Claude Code, Anthropic's official CLI for Claude.",
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "text", "text": _text(rng, 5200), "cache_control": {"type": "ephemeral"}},
    ]
    tools = [_tool(rng, n) for n in TOOL_NAMES]
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": f"<system-reminder>\n{_text(rng, 120)}\n</system-reminder>",
                },
                {"type": "text", "text": _text(rng, 40)},
            ],
        }
    ]
    body = {
        "model": MODEL,
        "max_tokens": 32000,
        "system": system,
        "tools": tools,
        "messages": messages,
        "temperature": 1,
        "metadata": {"user_id": "user_bench_account__session_0b6c1a2f"},
    }
    turns, k = 22, 0
    fixed = _size(body)
    per_result = max(500, (target - fixed - turns * 450) // turns)
    for k in range(turns):
        tid = "toolu_01Bench%011d" % k
        tool = rng.choice(["Read", "Bash", "Grep", "Edit"])
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": _text(rng, rng.randint(10, 40))},
                    {
                        "type": "tool_use",
                        "id": tid,
                        "name": tool,
                        "input": {
                            "file_path": "/home/dev/project/%s/%s_%d.py"
                            % (rng.choice(VOCAB), rng.choice(VOCAB), k)
                        },
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tid,
                        "content": _source(rng, int(per_result * rng.uniform(0.6, 1.4))),
                    }
                ],
            }
        )
    # the new turn: a fresh user message (this one is unique per request in "grow")
    last = {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": MARK + " " + _text(rng, 500),
                "cache_control": {"type": "ephemeral"},
            }
        ],
    }
    messages.append(last)
    # land on the target size by trimming / padding the largest tool_result
    pad = max(
        (m["content"][0] for m in messages if m["content"][0]["type"] == "tool_result"),
        key=lambda c: len(c["content"]),
    )
    diff = target - _size(body)
    if diff > 0:
        pad["content"] += "\n" + _source(rng, diff, 9000)
    while (over := _size(body) - target) > 0:  # the largest result first, then the next
        pad = max(
            (m["content"][0] for m in messages if m["content"][0]["type"] == "tool_result"),
            key=lambda c: len(c["content"]),
        )
        pad["content"] = pad["content"][: max(0, len(pad["content"]) - over)]
    return body


def small(target: int = 2048, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    t = _tool(rng, "Bash")
    t["description"] = _text(rng, 30)
    t["input_schema"]["properties"] = {"command": {"type": "string", "description": "command"}}
    t["input_schema"]["required"] = ["command"]
    body: dict[str, Any] = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 512,
        "system": [{"type": "text", "text": "You are Claude Code. " + _text(rng, 50)}],
        "tools": [t],
        "messages": [
            {"role": "user", "content": _text(rng, 40)},
            {"role": "assistant", "content": _text(rng, 20)},
            {"role": "user", "content": MARK + " " + _text(rng, 300)},
        ],
    }
    over = _size(body) - target + len(FIXED) - len(MARK)
    if over > 0:
        body["messages"][-1]["content"] = body["messages"][-1]["content"][:-over]
    return body


def template(size: str, stream: bool = False) -> bytes:
    """JSON body with MARK in its last message."""
    b = small() if size == "small" else large()
    if stream:
        b["stream"] = True
    return _dumps(b)


def fixed(size: str, stream: bool = False) -> bytes:
    return template(size, stream).replace(MARK.encode(), FIXED.encode(), 1)


def unique(tmpl: bytes, uid: str) -> bytes:
    """uid must be len(FIXED) characters so both variants have the same size."""
    return tmpl.replace(MARK.encode(), uid.encode(), 1)


if __name__ == "__main__":
    for s in ("small", "large"):
        for st in (False, True):
            print(s, st, len(fixed(s, st)))

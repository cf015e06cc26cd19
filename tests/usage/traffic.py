"""Claude-Code-shaped traffic for the usage tests: sessions with a system prompt naming the
working directory, MCP tools, tool results, a compaction; replies carrying rate-limit headers.

Every sent exchange is also kept as a `Sent` record, so tests compute the expected sums from the
traffic itself rather than from what the proxy stored."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    JSONReply,
    RecordedRequest,
    StreamReply,
    message,
    message_events,
    text_block,
    tool_use_block,
)

TOOLS = [
    {"name": "Bash", "description": "Run a shell command. " * 40,
     "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
    {"name": "Read", "description": "Read a file. " * 30,
     "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}},
    {"name": "mcp__github__search_issues", "description": "Search GitHub issues. " * 20,
     "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
    {"name": "mcp__github__get_pr", "description": "Get a pull request. " * 20,
     "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    {"name": "mcp__postgres__query", "description": "Run SQL. " * 25,
     "input_schema": {"type": "object", "properties": {"sql": {"type": "string"}}}},
]  # fmt: skip


def system_prompt(cwd: str | None) -> list[dict[str, Any]]:
    """Older Claude Code put `<env>` in the system prompt; 2.1.3xx sends it as a message."""
    env = (f"\n\n<env>\nWorking directory: {cwd}\nIs directory a git repo: Yes\n"
           "Platform: linux\n</env>") if cwd else ""  # fmt: skip
    return [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": "You are an interactive CLI tool. " * 50 + env,
         "cache_control": {"type": "ephemeral"}},
    ]  # fmt: skip


def environment_message(cwd: str) -> dict[str, Any]:
    """Claude Code 2.1.329's shape: a `role: system` message after the first user message."""
    return {"role": "system", "content": [{"type": "text", "text": "# Environment\nYou have "
            f"been invoked in the following environment: \n - Primary working directory: {cwd}\n"
            " - Is a git repository: false\n"}]}  # fmt: skip


@dataclass
class Sent:
    session: str
    project: str
    tags: str | None
    model: str
    usage: dict[str, int]
    ratelimit: dict[str, str] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(self.usage.values())


@dataclass
class Session:
    id: str
    cwd: str
    model: str = "claude-sonnet-4-5"
    legacy_env: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def next_body(self, tool: str | None, compact: bool = False) -> dict[str, Any]:
        if compact:  # Claude Code's /compact: the conversation restarts from a summary
            self.messages = [{"role": "user", "content": "This session is being continued "
                              "from a previous conversation. Summary: " + "s " * 50}]  # fmt: skip
        elif not self.messages:
            self.messages.append({"role": "user", "content": "Fix the failing test please."})
        elif tool:
            tid = f"toolu_{self.id}_{len(self.messages)}"
            self.messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": tid, "name": tool, "input": {"q": "x"}},
                    ],
                }
            )
            self.messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tid,
                 "content": f"output of {tool} " * 120}]})  # fmt: skip
        else:
            self.messages.append({"role": "assistant", "content": "Done with that step."})
            self.messages.append({"role": "user", "content": "Now the next one. " * 10})
        messages = list(self.messages)
        if not self.legacy_env:
            messages.insert(1, environment_message(self.cwd))
        return {"model": self.model, "max_tokens": 4096, "stream": True,
                "system": system_prompt(self.cwd if self.legacy_env else None), "tools": TOOLS,
                "messages": messages}  # fmt: skip


class Upstream:
    """Feeds the fake Anthropic one reply per request: the usage and headers tests script."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self.next: list[tuple[dict[str, int], dict[str, str], dict[str, Any] | None]] = []
        fake.responder = self.respond

    def respond(self, rec: RecordedRequest) -> Any:
        if rec.path != "/v1/messages" or not self.next:
            return None
        usage, headers, diagnostics = self.next.pop(0)
        body = rec.json()
        msg = message(text_block("ok"), tool_use_block("Bash", {"command": "ls"}),
                      model=body["model"], usage_=usage)  # fmt: skip
        if diagnostics is not None:
            msg["diagnostics"] = diagnostics
        if body.get("stream"):
            return StreamReply(message_events(msg), headers=headers)
        return JSONReply(msg, headers=headers)


def unified(util5: float, util7: float, now: float | None = None) -> dict[str, str]:
    now = time.time() if now is None else now
    return {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-5h-status": "allowed" if util5 < 0.9 else "allowed_warning",
        "anthropic-ratelimit-unified-5h-utilization": f"{util5}",
        "anthropic-ratelimit-unified-5h-reset": str(int(now // 3600 * 3600 + 3 * 3600)),
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-utilization": f"{util7}",
        "anthropic-ratelimit-unified-7d-reset": str(int(now // 86400 * 86400 + 2 * 86400)),
        "anthropic-ratelimit-unified-fallback-percentage": "0.5",
    }


async def send(
    http: aiohttp.ClientSession,
    proxy: RunningProxy,
    upstream: Upstream,
    session: Session,
    usage: dict[str, int],
    ratelimit: dict[str, str] | None = None,
    tool: str | None = None,
    compact: bool = False,
    diagnostics: dict[str, Any] | None = None,
) -> Sent:
    upstream.next.append((usage, ratelimit or {}, diagnostics))
    headers = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
               "x-claude-code-session-id": session.id, **session.headers}  # fmt: skip
    body = session.next_body(tool, compact)
    async with http.post(proxy.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        await r.read()
    return Sent(
        session.id,
        session.headers.get("x-proxy-project") or session.cwd,
        session.headers.get("x-proxy-tags"),
        session.model,
        usage,
        ratelimit or {},
    )

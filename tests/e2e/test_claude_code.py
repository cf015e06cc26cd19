"""The real Claude Code CLI completes a tool-using session through the proxy.

Claude Code (npm `@anthropic-ai/claude-code`, installed by scripts/test.sh into .tools/claude)
talks to the proxy (a subprocess, `python -m anthropic_proxy`), which forwards to a scripted
fake Anthropic upstream. The script answers by looking at each request, not by order, so side
requests (probes, titles, count_tokens, `HEAD /`) get sensible answers too:

1. a main-loop request (tools include Bash) -> a streamed tool_use calling Bash;
2. the request carrying that tool's tool_result -> a streamed final text.

Outside CI a missing CLI skips the test; with `CI` set it fails. `CLAUDE_BIN` overrides the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from anthropic_proxy.storage import resent
from anthropic_proxy.storage.bodies import Memo
from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    RecordedRequest,
    Reply,
    message,
    text_block,
    tool_use_block,
    usage,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CLAUDE_VERSION = "2.1.329"
API_KEY = "sk-ant-test-e2eQx7Vd93KpLm2ZrT8wNf4YhB6cJ0sUa5"
TOOL_ID = "toolu_e2e_bash_0001"
FILE_TEXT = "written by claude through the proxy"
COMMAND = f"printf '%s\\n' '{FILE_TEXT}' > out.txt"
FINAL_TEXT = "Done: out.txt now holds the line. E2E-FINAL-7731"
PROMPT = "Create a file out.txt holding one line, using the Bash tool."


def claude_binary() -> Path:
    path = Path(os.environ.get("CLAUDE_BIN") or ROOT / ".tools/claude/node_modules/.bin/claude")
    if path.exists():
        return path
    reason = f"Claude Code CLI not found at {path}; run scripts/test.sh (it npm-installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def holds_tool_result(body: dict[str, Any], tool_id: str) -> bool:
    last = (body.get("messages") or [{}])[-1]
    content = last.get("content") if last.get("role") == "user" else None
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") == tool_id
        for b in content
    )


def script(req: RecordedRequest) -> Reply | None:
    """Decide the reply from the request itself; see the module docstring."""
    body = req.json()
    if not isinstance(body, dict):
        return None
    if holds_tool_result(body, TOOL_ID):
        return message(text_block(FINAL_TEXT), usage_=usage(input_tokens=310, output_tokens=18))
    tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    asked = PROMPT in json.dumps(body.get("messages"))
    if "Bash" in tools and asked and (body.get("max_tokens") or 0) > 1:
        call = tool_use_block("Bash", {"command": COMMAND, "description": "Write out.txt"}, TOOL_ID)
        return message(text_block("I'll write the file."), call)
    # side requests: max_tokens:1 probes, titles, topic detection...
    return message(text_block("ok"), usage_=usage(output_tokens=1))


@contextlib.asynccontextmanager
async def running_proxy(upstream: str, data_dir: Path, log_path: Path) -> Any:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENROUTER_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    argv = ["-m", "anthropic_proxy", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--upstream", upstream, "--data-dir", str(data_dir), "--mode", "anthropic"]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env=env, stdout=log, stderr=log, cwd=ROOT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url, proc, log_path)
            yield url
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def wait_healthy(url: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"proxy did not become healthy:\n{log_path.read_text()[-4000:]}")


async def run_claude(binary: Path, base_url: str, home: Path, work: Path) -> tuple[int, str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_PROXY": "127.0.0.1,localhost",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    argv = ["-p", PROMPT, "--allowedTools", "Bash,Write", "--output-format", "json"]
    proc = await asyncio.create_subprocess_exec(
        str(binary), *argv, cwd=work, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        err += b"\n[test] claude timed out after 120 s"
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def recorded_exchanges(proxy: str, expected: int) -> list[dict[str, Any]]:
    """The proxy's finished /v1/messages exchanges (the recorder writes off the hot path)."""
    deadline = time.monotonic() + 15
    found: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(proxy + "/api/monitor/requests") as r:
                assert r.status == 200, await r.text()
                summaries = (await r.json())["data"]
            found = [s for s in summaries if s.get("path") == "/v1/messages"]
            if len(found) >= expected and all(s.get("state") != "pending" for s in found):
                return found
            await asyncio.sleep(0.2)
    raise AssertionError(f"expected {expected} finished exchanges, monitor shows {found}")


async def exchange_detail(proxy: str, exchange_id: str) -> dict[str, Any]:
    url = f"{proxy}/api/monitor/requests/{exchange_id}"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200, await r.text()
        detail: dict[str, Any] = await r.json()
        return detail


async def test_claude_code_tool_session_through_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = claude_binary()
    home, work, data = tmp_path / "home", tmp_path / "work", tmp_path / "data"
    for folder in (home, work, data):
        folder.mkdir()
    proxy_log = tmp_path / "proxy.log"

    async with (
        FakeAnthropic(responder=script) as fake,
        running_proxy(fake.url, data, proxy_log) as proxy,
    ):
        code, out, err = await run_claude(binary, proxy, home, work)
        context = f"exit {code}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}\n"
        context += f"upstream saw: {[(r.method, r.path, r.query_string) for r in fake.requests]}\n"
        context += f"proxy log:\n{proxy_log.read_text()[-3000:]}"
        assert code == 0, context

        # The tool really ran, and the final text came back.
        assert (work / "out.txt").read_text() == FILE_TEXT + "\n", context
        result = json.loads(out)
        assert result["is_error"] is False, context
        assert result["result"] == FINAL_TEXT, context

        # The upstream saw Claude Code's requests unchanged: query, betas, auth.
        calls = fake.requests_to("/v1/messages")
        first = next(r for r in calls if PROMPT in r.body.decode())
        second = next(r for r in calls if holds_tool_result(r.json(), TOOL_ID))
        for r in (first, second):
            assert r.query_string == "beta=true", context
            assert "claude-code-20250219" in r.headers["anthropic-beta"].split(","), context
            assert r.headers["x-api-key"] == API_KEY
            assert r.headers["anthropic-version"] == "2023-06-01"
            assert r.headers["user-agent"].startswith(f"claude-cli/{CLAUDE_VERSION}")
            assert r.json()["stream"] is True

        # The proxy recorded every exchange: success, tokens, timings, the session id.
        summaries = await recorded_exchanges(proxy, len(calls))
        session = first.headers["x-claude-code-session-id"]
        for s in summaries:
            assert s["kind"] == "messages" and s["state"] == "success", s
            assert s["status"] == 200 and s["stream"] is True, s
            assert s["input_tokens"] > 0 and s["output_tokens"] > 0, s
            assert s["cache_read_tokens"] > 0 and s["ttft_ms"] is not None, s
            assert s["session_id"] == session, s
        details = [await exchange_detail(proxy, s["id"]) for s in summaries]
        for d in details:
            assert d["query"] == "beta=true", d["query"]
            assert d["timeline"], "no stream timeline recorded"
            # What the proxy recorded as sent is what the upstream received.
            headers = {k.lower(): v for k, v in d["request_headers"].items()}
            assert headers["anthropic-beta"] == first.headers["anthropic-beta"]
            assert headers["x-api-key"] != API_KEY, "the API key was stored unmasked"
        # The project is the working directory Claude Code names in its environment message.
        main_loop = [
            d
            for d in details
            if any(t.get("name") == "Bash" for t in d["request"].get("tools") or [])
        ]
        assert main_loop and {d["project"] for d in main_loop} == {str(work)}, [
            d["project"] for d in details
        ]
        # The reconstructed replies: the Bash tool_use with its parsed input, then the final text.
        replies = {d["id"]: d["response"] for d in details}
        tool_uses = [b for r in replies.values() for b in r["content"] if b["type"] == "tool_use"]
        assert [(b["id"], b["name"], b["input"]["command"]) for b in tool_uses] == [
            (TOOL_ID, "Bash", COMMAND)
        ], replies
        texts = [b["text"] for r in replies.values() for b in r["content"] if b["type"] == "text"]
        assert FINAL_TEXT in texts, replies
        assert all(API_KEY not in json.dumps(d) for d in details)
        # Every request rebuilds from the store as Claude Code sent it.
        rebuilt = sorted(json.dumps(d["request"], sort_keys=True) for d in details)
        assert rebuilt == sorted(json.dumps(r.json(), sort_keys=True) for r in calls)

    # Claude Code sends the conversation again as the very bytes the recorder kept of the turn
    # before (compact JSON): reading the turn with the tool's result parses only a small share
    # of it, the new messages and the skeleton (`storage.resent`).
    memo = Memo()
    resent.read(first.body, memo)
    parsed: list[int] = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda data: parsed.append(len(data)) or loads(data))
    body, _ = resent.read(second.body, memo)
    assert body == second.json()
    assert 0 < sum(parsed) < len(second.body) // 4, (sum(parsed), len(second.body))

    # The full API key is in no file of the data dir, nor in the proxy's log.
    for path in [proxy_log, *data.rglob("*")]:
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), f"API key leaked into {path}"

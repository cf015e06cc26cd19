"""The real Claude Code CLI completes its tool-using session while the proxy routes around a
failing upstream: a 529 on the first of `--upstream URL1,URL2`, a refused connection, a 429 with
`retry-after`, and a pool key whose subscription quota is spent. Failover happens before any
byte reaches Claude Code, and each attempt is recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_claude_code import (
    FILE_TEXT,
    FINAL_TEXT,
    claude_binary,
    recorded_exchanges,
    run_claude,
    running_proxy,
    script,
)
from tests.fakes.anthropic_upstream import FakeAnthropic, RecordedRequest, Reply, error_reply
from tests.routing.helpers import closed_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
KEY_A = "sk-ant-api03-e2ePoolKeyA-" + "a" * 30 + "-AAAA"
KEY_B = "sk-ant-api03-e2ePoolKeyB-" + "b" * 30 + "-BBBB"


def spent_quota() -> Reply:
    reset = str(int(time.time()) + 3 * 3600)
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-5h-reset": reset,
    }
    return error_reply(429, "rate_limit_error", "usage limit reached", headers=headers)


def quota_by_key(req: RecordedRequest) -> Reply | None:
    return spent_quota() if req.headers.get("x-api-key") == KEY_A else script(req)


@pytest.mark.parametrize("failure", ["529", "refused", "429", "quota"])
async def test_claude_code_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    binary = claude_binary()
    home, work, data = tmp_path / "home", tmp_path / "work", tmp_path / "data"
    for folder in (home, work, data):
        folder.mkdir()
    proxy_log = tmp_path / "proxy.log"
    first_reply: Any = {
        "529": lambda req: error_reply(529, "overloaded_error", "Overloaded"),
        "429": lambda req: error_reply(
            429, "rate_limit_error", "slow down", headers={"retry-after": "120"}
        ),
    }.get(failure)
    async with (
        FakeAnthropic(responder=first_reply) as first,
        FakeAnthropic(responder=quota_by_key if failure == "quota" else script) as second,
    ):
        upstream = f"{first.url},{second.url}"
        if failure == "refused":
            upstream = f"{closed_port()},{second.url}"
        if failure == "quota":  # one provider, a pool of two keys: A is spent
            monkeypatch.setenv("ROUTING_E2E_KEY_A", KEY_A)
            monkeypatch.setenv("ROUTING_E2E_KEY_B", KEY_B)
            pool = {"name": "pool", "baseUrl": second.url,
                    "keyEnv": ["ROUTING_E2E_KEY_A", "ROUTING_E2E_KEY_B"]}  # fmt: skip
            config = {"providers": [pool], "routes": [{"targets": ["pool"]}]}
            (data / "config.json").write_text(json.dumps(config))
        async with running_proxy(upstream, data, proxy_log) as proxy:
            code, out, err = await run_claude(binary, proxy, home, work)
            context = f"exit {code}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}\n"
            context += f"proxy log:\n{proxy_log.read_text()[-3000:]}"
            assert code == 0, context
            assert (work / "out.txt").read_text() == FILE_TEXT + "\n", context
            assert json.loads(out)["result"] == FINAL_TEXT, context
            calls = second.requests_to("/v1/messages")
            served = [c for c in calls if c.headers.get("x-api-key") != KEY_A]
            summaries = await recorded_exchanges(proxy, len(served))
    failed_over = [json.loads(s["attempts"]) for s in summaries if s.get("attempts")]
    assert failed_over, summaries  # at least the first call went around the failure
    if failure == "quota":
        assert all(s["provider"] == "pool" for s in summaries), summaries
        assert failed_over[0][0]["error"] == "quota" and failed_over[0][0]["key"] == (
            KEY_A[:10] + "..." + KEY_A[-4:]
        )
        assert len([c for c in calls if c.headers.get("x-api-key") == KEY_A]) == 1  # benched
        assert all(c.headers.get("x-api-key") in (KEY_A, KEY_B) for c in calls)
    else:
        assert all(s["provider"] == "anthropic-2" for s in summaries), summaries
        error = {"529": "http_529", "refused": "connect", "429": "http_429"}[failure]
        assert all(a[0]["provider"] == "anthropic" and a[0]["error"] == error for a in failed_over)
        if failure in ("529", "429"):  # benched (429) or circuit open after 3 (529)
            assert 1 <= len(first.requests_to("/v1/messages")) <= 3

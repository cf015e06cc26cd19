"""Secret scrubbing, one test per pattern, through the real proxy: the upstream receives the
original bytes, the stored body has the secret redacted; `scrub_secrets=False` turns it off."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.record.scrub import PATTERNS, scrub_text
from anthropic_proxy.storage.bodies import join
from tests.conftest import API_KEY, RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.hardening.conftest import Start

# pattern name -> (text carrying a secret, the secret)
SAMPLES: dict[str, tuple[str, str]] = {
    "anthropic_key": ("key: {s}", "sk-ant-api03-" + "A1b2C3d4" * 10 + "-xYz_AA"),
    "openai_key": ("OpenRouter {s} works", "sk-or-v1-" + "0f" * 32),
    "aws_access_key": ("id {s} region", "AKIAIOSFODNN7EXAMPLE"),
    "github_token": ("push with {s}", "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"),
    "slack_token": ("bot {s}", "xoxb-2345678901-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    "google_api_key": ("maps {s}", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    "stripe_key": ("charge {s}", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    "jwt": (
        "cookie {s}",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    "private_key": (
        "file:\n{s}\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
        "\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIHardenedTestKeyMaterial\n"
        "-----END OPENSSH PRIVATE KEY-----",
    ),
    "env_assignment": (
        "$ cat .env\nNODE_ENV=production\nDB_PASSWORD={s}\nPORT=3000\n",
        "hunter2-Correct-Horse",
    ),
    "bearer_token": (
        'curl -H "Authorization: Bearer {s}" https://api.example.com',
        "opaqueTokenValue0123456789abcdef",
    ),
    "url_credentials": (
        "DATABASE_URL=postgres://app:{s}@db.internal:5432/app",
        "pgPassw0rd-Secret!",
    ),
}
BENIGN = [
    "def task-runner(): return sk_id",
    "the AKIA prefix alone, AKIA123",
    "https://example.com:8443/path?q=1",
    "git@github.com:org/repo.git",
    "NODE_ENV=production\nPORT=3000\nDEBUG=true",
    "A bearer of bad news",
    "eyJ not a token",
]


def test_every_pattern_has_a_sample() -> None:
    assert set(SAMPLES) == set(PATTERNS)


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text


async def send(http: aiohttp.ClientSession, proxy: RunningProxy, text: str) -> bytes:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 16,
        "system": [{"type": "text", "text": text}],
        "messages": [
            {"role": "user", "content": text},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": text}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}],
            },
        ],
    }
    raw = json.dumps(body).encode()
    headers = {"x-api-key": API_KEY, "content-type": "application/json"}
    async with http.post(f"{proxy.url}/v1/messages", data=raw, headers=headers) as resp:
        assert resp.status == 200
    return raw


async def stored_request(proxy: RunningProxy) -> tuple[Any, str]:
    """The stored request body (rebuilt from its parts) and the row's preview."""
    [row] = await proxy.rows(1)
    body = await asyncio.to_thread(join, row["request_ref"], proxy.state.store.blob)
    return body, row["preview"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_pattern_is_redacted_in_the_store_but_forwarded_intact(
    start: Start, fake: FakeAnthropic, http: aiohttp.ClientSession, name: str
) -> None:
    template, secret = SAMPLES[name]
    text = template.format(s=secret)
    proxy = await start(upstream_url=fake.url)
    raw = await send(http, proxy, text)
    assert fake.requests[-1].body == raw  # forwarded byte for byte
    body, preview = await stored_request(proxy)
    stored = json.dumps(body, ensure_ascii=False) + preview
    assert secret not in stored
    assert secret.encode() not in json.dumps(stored).encode()
    assert "[REDACTED" in stored
    assert scrub_text(text) != text and secret not in scrub_text(text)
    # the text around the secret survives
    for piece in template.split("{s}"):
        for line in piece.strip().splitlines():
            if "=" not in line and line.strip():
                assert line.strip().strip('"') in stored.replace("\\n", "\n").replace('\\"', '"')


async def test_scrubbing_off_stores_every_pattern_verbatim(
    start: Start, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    proxy = await start(upstream_url=fake.url, scrub_secrets=False)
    text = "\n".join(t.format(s=s) for t, s in SAMPLES.values())
    await send(http, proxy, text)
    body, preview = await stored_request(proxy)
    assert body["messages"][0]["content"] == text
    assert body["messages"][2]["content"][0]["content"] == text
    assert "[REDACTED" not in json.dumps(body) + preview


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('skAKIAghp_xoxeyJ-BEGINKEYTOKENbearBASIC:/ az\n"\\=')))
)
def test_literal_first_look_never_misses_what_the_trigger_finds(text: str) -> None:
    """The bytes pre-check is a superset of TRIGGER: a text it calls clean has no trigger."""
    from anthropic_proxy.record.scrub import FIRST_LOOK_STR, TRIGGER, may_hold_secret

    if TRIGGER.search(text):
        assert may_hold_secret(orjson.dumps(text))
        assert may_hold_secret(orjson.dumps({"k": [text]}))
        assert FIRST_LOOK_STR.find_matches_as_indexes(text)  # scrub_text's own first look

"""After a run with distinctive keys in headers, settings, bodies and tool results, no full key
is anywhere: not in the data dir (every file, the SQLite DB with its zlib blobs decompressed),
not in the DEBUG log, not in any API or export."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import zstandard

from anthropic_proxy.storage.bodies import decompress
from anthropic_proxy.storage.packing import unpack_json
from tests.conftest import RunningProxy, journal_bytes
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block
from tests.fakes.openai_upstream import FakeOpenAI, completion
from tests.hardening.conftest import Start, wait_for

# Each key is unique to this file so that a hit can only come from this run.
CLIENT_KEY = "sk-ant-api03-HARDx" + "Q7w" * 26 + "-zz9AA"
BEARER = "sk-ant-oat01-HARDy" + "R8e" * 20 + "Kq"
BACKEND = "sk-or-v1-HARDz" + "0a1b2c3d" * 8
BODY_SECRETS = {
    "anthropic": "sk-ant-api03-BODYa" + "Zx1" * 25,
    "openai": "sk-proj-BODYb" + "Yw2" * 16,
    "aws": "AKIAHARD7QZXC4VB2N8M",
    "github": "ghp_HARDc" + "Xv3" * 11 + "q",
    "slack": "xoxb-1234567890-HARDd" + "Uv4" * 6,
    "google": "AIzaHARDe" + "Tu5" * 10,  # AIza + 35
    "stripe": "sk_live_HARDf" + "St6" * 8,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJIQVJEZyJ9.HARDgSig" + "Rs7" * 8,
    "env": "HARDh-hunter2-" + "Qr8" * 6,
}
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIHARDiKEY" + "Pq9" * 20 + "\n-----END RSA PRIVATE KEY-----"
)
# what must never appear in full
NEEDLES = [CLIENT_KEY, BEARER, BACKEND, *BODY_SECRETS.values(), "MIIHARDiKEY" + "Pq9" * 20]


def tool_result_text() -> str:
    s = BODY_SECRETS
    return (
        f"$ cat .env\nDB_PASSWORD={s['env']}\nexport OPENAI_API_KEY={s['openai']}\n"
        f"AWS_ACCESS_KEY_ID={s['aws']}\n{PRIVATE_KEY}\n"
        f"token {s['github']} slack {s['slack']} google {s['google']} stripe {s['stripe']}\n"
        f"Authorization: Bearer {s['jwt']}\n"
    )


def conversation(stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": stream,
        "system": f"You may use the key {BODY_SECRETS['anthropic']} for tests.",
        "messages": [
            {"role": "user", "content": f"my key is {BODY_SECRETS['anthropic']}, read .env"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Bash",
                        "input": {"command": "cat .env"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": tool_result_text(),
                    },
                    {
                        "type": "text",
                        "text": f"also {BODY_SECRETS['stripe']} and {BODY_SECRETS['jwt']}",
                    },
                ],
            },
        ],
    }


def find(data: bytes, where: str) -> list[str]:
    return [f"{where}: {needle[:16]}..." for needle in NEEDLES if needle.encode() in data]


def scan_sqlite(path: Path) -> list[str]:
    """Every cell of every table; compressed cells decompressed: records (zstd or zlib, with
    the preset dictionaries of `storage.packing`) and body parts (zstd, or zlib before)."""
    hits: list[str] = []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):  # table names come from the schema
                for cell in row:
                    if isinstance(cell, bytes):
                        hits += find(cell, f"{path.name}:{table}")
                        with contextlib.suppress(zlib.error, zstandard.ZstdError, KeyError):
                            hits += find(unpack_json(cell), f"{path.name}:{table} (record)")
                        with contextlib.suppress(zlib.error, zstandard.ZstdError):
                            hits += find(decompress(cell), f"{path.name}:{table} (part)")
                    elif isinstance(cell, str):
                        hits += find(cell.encode(), f"{path.name}:{table}")
    finally:
        db.close()
    return hits


def scan_dir(root: Path) -> list[str]:
    hits: list[str] = []
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files, "nothing in the data dir?"
    for path in files:
        hits += find(path.read_bytes(), str(path.relative_to(root)))
        if path.suffix == ".db":
            hits += scan_sqlite(path)
    return hits


async def scan_apis(http: aiohttp.ClientSession, proxy: RunningProxy) -> list[str]:
    hits: list[str] = []

    async def get(path: str) -> bytes:
        async with http.get(proxy.url + path) as resp:
            assert resp.status == 200, (path, resp.status)
            raw = await resp.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        hits.extend(find(raw, path))
        return raw

    listing = orjson.loads(await get("/api/monitor/requests?limit=1000"))
    assert listing["data"], "nothing recorded?"
    for row in listing["data"]:
        await get(f"/api/monitor/requests/{row['id']}")
    for fmt in ("json", "jsonl", "csv", "compressed"):
        await get(f"/api/monitor/export?format={fmt}")
    for path in (
        "/api/monitor/analyze",
        "/api/monitor/stats",
        "/api/monitor/sessions",
        "/api/monitor/config",
        "/api/config",
        "/health",
        "/metrics",
    ):
        await get(path)
    return hits


@pytest.mark.parametrize("mode", ["anthropic", "openrouter"])
async def test_no_full_key_anywhere(
    start: Start,
    fake: FakeAnthropic,
    oai: FakeOpenAI,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = await start(
        mode=mode,
        upstream_url=fake.url,
        openrouter_base_url=oai.url,
        openrouter_api_key=BACKEND,
        log_level="DEBUG",
    )
    # the upstream echoes a secret back too, as a model quoting a file would
    echoed = f"Your .env has AWS_KEY={BODY_SECRETS['aws']} and {BODY_SECRETS['stripe']}"
    fake.responder = lambda req: message(text_block(echoed))
    oai.responder = lambda req: completion(echoed)
    for headers in (
        {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
        {"authorization": f"Bearer {BEARER}", "anthropic-version": "2023-06-01"},
    ):
        for stream in (False, True):
            async with http.post(
                f"{proxy.url}/v1/messages", json=conversation(stream), headers=headers
            ) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
        async with http.post(
            f"{proxy.url}/v1/messages/count_tokens", json=conversation(False), headers=headers
        ) as resp:
            assert resp.status == 200
        async with http.post(f"{proxy.url}/v1/messages", data=b"{bad", headers=headers) as resp:
            assert resp.status == 400
        async with http.get(f"{proxy.url}/v1/models", headers=headers) as resp:
            assert resp.status == 200
    # the config API checks the backend key and lists models with it
    async with http.post(f"{proxy.url}/api/config/test-openrouter", json={}) as resp:
        await resp.read()
    n = 14
    await proxy.rows(n)
    recorder = proxy.state.recorder
    await wait_for(lambda: recorder.depth == 0)
    await wait_for(lambda: journal_bytes(proxy.settings.data_path) == 0)
    # the upstream got the real keys: only the stored copy is protected
    if mode == "anthropic":
        assert fake.requests_to("/v1/messages")[0].headers["x-api-key"] == CLIENT_KEY
        assert BODY_SECRETS["aws"].encode() in fake.requests_to("/v1/messages")[0].body
    else:
        assert oai.requests[0].headers["authorization"] == f"Bearer {BACKEND}"
    hits = await scan_apis(http, proxy)
    hits += scan_dir(proxy.settings.data_path)
    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    hits += find(log_text.encode(), "log")
    hits += find(caplog.text.encode(), "log text")
    await proxy.stop()
    hits += scan_dir(proxy.settings.data_path)  # after a clean shutdown too
    # the recorder process logs (access lines, DEBUG headers) to the stderr it shares with us
    recorder_log = capfd.readouterr().err
    hits += find(recorder_log.encode(), "recorder process log")
    assert not hits, "\n".join(sorted(set(hits)))
    assert "anthropic_proxy.access" in recorder_log and "request headers" in recorder_log


async def test_scrubbing_disabled_keeps_bodies_verbatim(
    start: Start, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    """The opt-out: with scrub_secrets off the stored body is the one received (headers are
    still masked)."""
    proxy = await start(upstream_url=fake.url, scrub_secrets=False)
    async with http.post(
        f"{proxy.url}/v1/messages", json=conversation(False), headers={"x-api-key": CLIENT_KEY}
    ) as resp:
        assert resp.status == 200
    await proxy.rows(1)
    await asyncio.sleep(0)
    hits = scan_sqlite(proxy.settings.data_path / "exchanges.db")
    assert any(BODY_SECRETS["aws"][:16] in h for h in hits)
    assert not any(CLIENT_KEY[:16] in h for h in hits)

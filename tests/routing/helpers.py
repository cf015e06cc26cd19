"""What the routing tests share: the SDK client, a request, a closed port, a config.json."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import anthropic

from tests.conftest import API_KEY, RunningProxy, StartProxy


def client(proxy: RunningProxy, **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=proxy.url, api_key=API_KEY, max_retries=0, default_headers=headers
    )


def ask(model: str = "claude-sonnet-4-6", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def closed_port() -> str:
    """A loopback URL nothing listens on (a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def start_with(
    start_proxy: StartProxy, tmp_path: Path, config: dict[str, Any], **extra: Any
) -> RunningProxy:
    """The proxy started over a data dir whose config.json holds `config`."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "config.json").write_text(json.dumps(config))
    return await start_proxy(**extra)

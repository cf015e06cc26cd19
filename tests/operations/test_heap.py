"""The proxy as shipped (`python -m anthropic_proxy`) freezes what its start-up made out of the
garbage collector: unfrozen, every full collection walked those ~60,000 objects, an 18-25 ms
stall of every stream in flight about once a second under load (bench/README.md)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.deploy.procs import PYTHON, ROOT, Proc, clean_env, free_port


async def test_the_started_proxy_has_frozen_its_start_up_objects(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "anthropic_proxy", "--port", str(port),
            "--upstream", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    proc = Proc(argv, clean_env(), ROOT, tmp_path / "proxy.log")
    try:
        await proc.wait_healthy(url)
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
            text = await response.text()
        frozen = [
            line for line in text.splitlines() if line.startswith("anthropic_proxy_gc_frozen")
        ]
        assert frozen, text[:2000]
        assert float(frozen[0].split()[-1]) > 10_000, frozen
    finally:
        proc.stop()

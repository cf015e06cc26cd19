"""Real proxy processes for deployment tests: start a command line, wait for /health, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment minus anything that would redirect the proxy elsewhere."""
    drop = ("ANTHROPIC_", "DATABASE_URL", "PROXY_MODE", "OPENROUTER_", "OTEL_", "PORT", "HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


class Proc:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self.argv = list(argv)
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_healthy(self, url: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.popen.poll() is not None:
                    raise AssertionError(
                        f"{self.argv} exited {self.popen.returncode}:\n{self.output()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(url + "/health") as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(
                        f"{self.argv} not healthy after {timeout}s:\n{self.output()}"
                    )
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL the group if it lingers."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()

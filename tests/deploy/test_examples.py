"""Each file in examples/ is parsed, the exact command it runs is extracted and started (with a
temporary port and data dir), and the proxy must answer /health.

Docker has no engine here: the Dockerfile's ENTRYPOINT+CMD, ENV and HEALTHCHECK are run as
they would be in the container, with the package installed in this venv instead of the image.
The compose file's proxy command runs against the test PostgreSQL instead of its `postgres`
service. The systemd unit's ExecStart and the pm2 app run with the installed console script.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.procs import ROOT, Proc, clean_env, free_port
from tests.pg import fresh_schema, url_for

EXAMPLES = ROOT / "examples"
VENV_BIN = Path(shutil.which("anthropic-proxy") or ROOT / ".venv/bin/anthropic-proxy").parent
TOKEN = "example-token-123"


@dataclass
class Dockerfile:
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    user: str = "root"
    copies: list[str] = field(default_factory=list)


def parse_dockerfile(path: Path) -> Dockerfile:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = Dockerfile()
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if word == "ENV":
            out.env.update(dict(kv.split("=", 1) for kv in shlex.split(rest)))
        elif word in ("ENTRYPOINT", "CMD"):
            setattr(out, word.lower(), json.loads(rest))  # exec form only: no shell in between
        elif word == "HEALTHCHECK":
            out.healthcheck = json.loads(rest.partition(" CMD ")[2])
        elif word == "USER":
            out.user = rest
        elif word == "COPY" and not rest.startswith("--from"):
            out.copies.extend(rest.split()[:-1])
    return out


def with_port(argv: list[str], port: int) -> list[str]:
    """The command with its --port value replaced (the one thing a test must change)."""
    out = list(argv)
    if "--port" in out:
        out[out.index("--port") + 1] = str(port)
    return out


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_env(**extra)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANTHROPIC_PROXY_DATA_DIR", str(tmp_path / "data"))
    return env


async def run_until_healthy(argv: list[str], env: dict[str, str], port: int, tmp: Path) -> None:
    proc = Proc(argv, env, tmp, tmp / "proxy.log")
    try:
        await proc.wait_healthy(f"http://127.0.0.1:{port}")
    finally:
        proc.stop()


async def test_dockerfile_command_and_healthcheck_start_the_proxy(tmp_path: Path) -> None:
    docker = parse_dockerfile(EXAMPLES / "Dockerfile")
    assert docker.user not in ("root", "0") and docker.healthcheck
    for source in docker.copies:
        assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
    port = free_port()
    image_env = {**docker.env, "PORT": str(port), "ANTHROPIC_PROXY_DATA_DIR": str(tmp_path)}
    env = env_for(tmp_path, **image_env, ANTHROPIC_PROXY_AUTH_TOKEN=TOKEN)
    argv = docker.entrypoint + docker.cmd
    proc = Proc(argv, env, tmp_path, tmp_path / "proxy.log")
    try:
        await proc.wait_healthy(f"http://127.0.0.1:{port}")
        probe = subprocess.run(docker.healthcheck, env=env, capture_output=True, timeout=10)
        assert probe.returncode == 0, probe.stderr.decode()
    finally:
        proc.stop()
    # Off loopback without a token the container must refuse to start, loudly.
    env.pop("ANTHROPIC_PROXY_AUTH_TOKEN")
    refused = subprocess.run(argv, env=env, capture_output=True, timeout=30)
    assert refused.returncode == 2 and b"access token" in refused.stderr


@pytest.mark.postgres
async def test_compose_proxy_command_starts_on_postgres(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    compose: dict[str, Any] = yaml.safe_load((EXAMPLES / "docker-compose.yml").read_text())
    proxy, db = compose["services"]["proxy"], compose["services"]["postgres"]
    assert proxy["depends_on"]["postgres"]["condition"] == "service_healthy" and db["healthcheck"]
    docker = parse_dockerfile(ROOT / proxy["build"]["dockerfile"])
    command = list(proxy["command"])
    assert command[command.index("--database-url") + 1].startswith("postgresql://")
    port = free_port()
    with fresh_schema() as schema:
        command[command.index("--database-url") + 1] = url_for(schema)  # the test server
        env = {k: re.sub(r"\$\{[^}]*\}", TOKEN, str(v)) for k, v in proxy["environment"].items()}
        image_env = {**docker.env, "PORT": str(port), "ANTHROPIC_PROXY_DATA_DIR": str(tmp_path)}
        await run_until_healthy(
            docker.entrypoint + command, env_for(tmp_path, **image_env, **env), port, tmp_path
        )


def parse_unit(path: Path) -> dict[str, list[str]]:
    """[Service] keys -> values (repeatable keys such as Environment= keep every value)."""
    section, out = "", dict[str, list[str]]()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


async def test_systemd_unit_exec_start_starts_the_proxy(tmp_path: Path) -> None:
    unit = parse_unit(EXAMPLES / "anthropic-proxy.service")
    [exec_start] = unit["ExecStart"]
    argv = shlex.split(exec_start)
    assert (
        argv[0] == "/opt/anthropic-proxy/bin/anthropic-proxy"
    )  # the venv the unit's comment makes
    installed = str(VENV_BIN / "anthropic-proxy")
    env = dict(kv.split("=", 1) for kv in unit["Environment"])
    assert env["ANTHROPIC_PROXY_DATA_DIR"] == "/var/lib/" + unit["StateDirectory"][0]
    env["ANTHROPIC_PROXY_DATA_DIR"] = str(tmp_path / "state")
    port = free_port()
    await run_until_healthy(
        [installed, *with_port(argv, port)[1:]], env_for(tmp_path, **env), port, tmp_path
    )
    if shutil.which("systemd-analyze"):
        local = tmp_path / "anthropic-proxy.service"
        local.write_text(
            (EXAMPLES / "anthropic-proxy.service").read_text().replace(argv[0], installed)
        )
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(local)], capture_output=True, timeout=60
        )
        assert verify.returncode == 0, verify.stderr.decode()


async def test_pm2_app_starts_the_proxy(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot evaluate ecosystem.config.js")
    dump = subprocess.run(
        [node, "-e", "process.stdout.write(JSON.stringify(require(process.argv[1])))",
         str(EXAMPLES / "ecosystem.config.js")],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    [app] = json.loads(dump.stdout)["apps"]
    assert app["interpreter"] == "none"  # pm2 must exec the command, not feed it to node
    args = app["args"] if isinstance(app["args"], list) else shlex.split(app["args"])
    env = env_for(tmp_path, **app.get("env", {}))
    script = shutil.which(app["script"], path=env["PATH"])
    assert script, f"{app['script']} is not on PATH"
    port = free_port()
    await run_until_healthy([script, *with_port(args, port)], env, port, tmp_path)

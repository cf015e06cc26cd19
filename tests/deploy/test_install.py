"""Every install command in README.md, docs/README_CN.md and examples/ runs as written.

Each runs in a copy of the repository (what a user has after cloning), offline: pip and uv see
no index, only a wheelhouse packed from this venv's own installed distributions
(tests/deploy/wheelhouse.py). After installing, the installed command must start and answer
/health. Commands that need root (`sudo`) run without it, under a temporary prefix. The
Dockerfile's install lines run inside an image build; tests/deploy/test_examples.py runs its
command instead (there is no Docker engine here).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy import wheelhouse
from tests.deploy.procs import ROOT, Proc, clean_env, free_port
from tests.pg import url_for

VENV_FLOW = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/anthropic-proxy"
POSTGRES = ".venv/bin/pip install '.[postgres]'"
VENV_POSTGRES = "python3 -m venv .venv && .venv/bin/pip install '.[postgres]'"
OTEL = ".venv/bin/pip install '.[otel]'"
UPGRADE = ".venv/bin/pip install --upgrade ."
SYSTEMD = (
    "sudo python3 -m venv /opt/anthropic-proxy && "
    "sudo /opt/anthropic-proxy/bin/pip install '.[postgres]'"
)
UVX = "uvx --from . anthropic-proxy"
UVX_POSTGRES = "uvx --from '.[postgres]' anthropic-proxy"
UV_TOOL = "uv tool install '.[postgres]'"
COMMANDS = {VENV_FLOW, POSTGRES, VENV_POSTGRES, OTEL, UPGRADE, SYSTEMD, UVX, UVX_POSTGRES, UV_TOOL}
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.name != "Dockerfile")
DOCS = [ROOT / "README.md", ROOT / "docs/README_CN.md", *EXAMPLES]
INSTALLERS = re.compile(r"\bpip3? install\b|\buvx\b|\buv tool\b|\bpipx\b")


def test_every_install_command_in_the_docs_is_one_this_file_runs() -> None:
    shown: set[str] = set()
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            if INSTALLERS.search(line):
                known = {c for c in COMMANDS if c in line}
                assert known, f"{doc.name}: an install command no test runs: {line.strip()}"
                shown |= known
    assert shown == COMMANDS, COMMANDS - shown


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Read from pyproject.toml, so a new dependency is in the wheelhouse the day it is added.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    build = project["build-system"]["requires"]
    roots = [*project["project"]["dependencies"], *extras["postgres"], *extras["otel"], *build]
    return wheelhouse.build(roots, tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    junk = (".venv", ".git", ".tools", "test-artifacts", "*cache*", "__pycache__", "bench", "*.db")
    shutil.copytree(ROOT, tmp_path / "clone", ignore=shutil.ignore_patterns(*junk))
    return tmp_path / "clone"


def offline_env(wheels: Path, tmp: Path) -> dict[str, str]:
    env = clean_env(
        PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels),
        UV_OFFLINE="1", UV_FIND_LINKS=str(wheels), UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"), UV_TOOL_DIR=str(tmp / "uv-tools"),
        UV_TOOL_BIN_DIR=str(tmp / "bin"), UV_PYTHON_DOWNLOADS="never", UV_PYTHON=sys.executable,
    )  # fmt: skip
    env["PATH"] = os.pathsep.join([str(tmp / "bin"), str(Path(sys.executable).parent), env["PATH"]])
    return {k: v for k, v in env.items() if not k.startswith("VIRTUAL_ENV")}


def sh(command: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


async def serves(command: str, cwd: Path, env: dict[str, str], *extra: str) -> None:
    """`command` (which ends by starting the proxy) with a free port: it must get healthy."""
    port = free_port()
    data = cwd.parent / f"data-{port}"
    argv = ["bash", "-c", f"{command} --port {port} --data-dir {data} {shlex.join(extra)}"]
    proc = Proc(argv, env, cwd, cwd.parent / f"proxy-{port}.log")
    try:
        await proc.wait_healthy(f"http://127.0.0.1:{port}", timeout=600)
    finally:
        proc.stop()


async def test_venv_commands_from_a_clone(wheels: Path, clone: Path) -> None:
    env = offline_env(wheels, clone.parent)
    await serves(VENV_FLOW, clone, env)

    # PostgreSQL without the driver: one line naming the command, which then works.
    pg = "postgresql://proxy@127.0.0.1:1/none"
    missing = subprocess.run(
        [".venv/bin/anthropic-proxy", "--database-url", pg], cwd=clone, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1, missing.stderr
    printed = re.search(r"install it with: (.*?) \(in a clone", missing.stderr)
    assert printed and POSTGRES in missing.stderr, missing.stderr
    sh(printed.group(1), clone, env)
    sh(POSTGRES, clone, env)
    sh(VENV_POSTGRES, clone, env)
    await serves(".venv/bin/anthropic-proxy", clone, env, "--database-url", url_for("test"))

    sh(OTEL, clone, env)
    await serves(".venv/bin/anthropic-proxy", clone, env, "--otel-endpoint", "http://127.0.0.1:9")
    sh(UPGRADE, clone, env)
    await serves(".venv/bin/anthropic-proxy", clone, env)


async def test_systemd_install_line(wheels: Path, clone: Path) -> None:
    prefix = clone.parent / "opt" / "anthropic-proxy"
    command = SYSTEMD.replace("sudo ", "").replace("/opt/anthropic-proxy", str(prefix))
    env = offline_env(wheels, clone.parent)
    sh(command, clone, env)
    unit = (ROOT / "examples/anthropic-proxy.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.M)
    assert exec_start and exec_start.group(1) == "/opt/anthropic-proxy/bin/anthropic-proxy"
    await serves(str(prefix / "bin/anthropic-proxy"), clone, env)


async def test_uv_commands_from_a_clone(wheels: Path, clone: Path) -> None:
    env = offline_env(wheels, clone.parent)
    if not shutil.which("uvx", path=env["PATH"]):
        pytest.skip("uv is not installed (it is in the [test] extra)")
    await serves(UVX, clone, env)
    await serves(UVX_POSTGRES, clone, env)
    sh(UV_TOOL, clone, env)
    installed = shutil.which("anthropic-proxy", path=str(clone.parent / "bin"))
    assert installed, "uv tool install put no anthropic-proxy on the tool PATH"
    await serves(installed, clone, env)

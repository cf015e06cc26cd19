"""What a user sees when the proxy starts, cannot start, and stops: real processes, real sockets."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from anthropic_proxy.banner import public_base, store_description
from anthropic_proxy.cli import main
from anthropic_proxy.settings import OPTIONS, load, parse_size
from tests.deploy.procs import ROOT, Proc, clean_env, free_port

PROXY = [sys.executable, "-m", "anthropic_proxy"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PROXY, *args], capture_output=True, text=True, timeout=60, env=env or clean_env()
    )


def test_port_in_use_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("--port", str(port), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        f"anthropic-proxy: port {port} is in use on 127.0.0.1; pass --port or stop the other process"
    )
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr


async def test_startup_banner_and_shutdown_line(tmp_path: Path) -> None:
    port = free_port()
    argv = [*PROXY, "--port", str(port), "--data-dir", str(tmp_path / "data")]
    proc = Proc(argv, clean_env(), tmp_path, tmp_path / "proxy.log")
    try:
        await proc.wait_healthy(f"http://127.0.0.1:{port}")
    finally:
        proc.stop()
    out = proc.output()
    assert proc.popen.returncode == 0, out
    assert f"dashboard  http://127.0.0.1:{port}/monitor\n" in out
    assert "mode       pass-through → https://api.anthropic.com" in out
    assert f"store      SQLite {tmp_path / 'data' / 'exchanges.db'}" in out
    assert f"data dir   {tmp_path / 'data'}" in out
    assert re.search(r"anthropic-proxy: stopped \(0 exchanges recorded this run\)\s*$", out), out


def test_banner_addresses_and_store_names() -> None:
    wildcard = load({"host": "0.0.0.0", "port": "9000"}, environ={})
    assert not public_base(wildcard).startswith("http://0.0.0.0")
    assert re.fullmatch(r"http://[\d.]+:9000", public_base(wildcard))
    pg = load({"database_url": "postgresql://me:hunter2@db.example:5433/proxy?x=1"}, environ={})
    assert store_description(pg) == "PostgreSQL postgresql://me@db.example:5433/proxy"
    sqlite = load({"database_url": "sqlite:////srv/ap.db"}, environ={})
    assert store_description(sqlite) == "SQLite /srv/ap.db"


def test_translation_mode_banner_names_the_backend(capsys: pytest.CaptureFixture[str]) -> None:
    from anthropic_proxy.banner import welcome
    from anthropic_proxy.config.store import ConfigStore

    settings = load(
        {"mode": "openrouter"}, environ={"OPENROUTER_BASE_URL": "http://127.0.0.1:7/api"}
    )

    class State:  # the two facts welcome() reads, from a real ConfigStore
        config = ConfigStore(Path("/nonexistent/config.json"), settings)
        upstream_url = "https://api.anthropic.com"

    text = welcome(settings, State())  # type: ignore[arg-type]
    assert "mode       translation → http://127.0.0.1:7/api" in text


# -- sizes ---------------------------------------------------------------------------------------

SPELLINGS = {
    "0": 0, "512": 512, "512B": 512, "512b": 512, "1k": 1024, "1KB": 1024, "1kb": 1024,
    "1KiB": 1024, "1kib": 1024, "32MB": 32 * 2**20, "32 MB": 32 * 2**20, "32mib": 32 * 2**20,
    "2GB": 2 * 2**30, "2G": 2 * 2**30, "2GiB": 2 * 2**30, "2gb": 2 * 2**30, "8GB": 8 * 2**30,
    "1.5GB": int(1.5 * 2**30), "1TB": 2**40, "1TiB": 2**40, "1t": 2**40,
}  # fmt: skip


@pytest.mark.parametrize("text", list(SPELLINGS))
def test_size_spellings(text: str) -> None:
    assert parse_size(text) == SPELLINGS[text]


@pytest.mark.parametrize("text", ["", "GB", "2XB", "-1MB", "2 G B", "2GBs", "two"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def documented_sizes() -> set[str]:
    """Every size value the docs show for a size setting (flags, env assignments, defaults, e.g.)."""
    docs = [ROOT / "README.md", ROOT / "docs/README_CN.md", *sorted((ROOT / "examples").iterdir())]
    size_names = r"--max-db-size|--max-body-size|MAX_DB_SIZE|MAX_BODY_SIZE|RECORD_QUEUE_BYTES"
    found: set[str] = set()
    for doc in docs:
        text = doc.read_text()
        found |= set(re.findall(rf"(?:{size_names})[ =:]+[\"']?(\d[\w.]*)", text))
        for row in re.findall(rf"^\|.*(?:{size_names}).*$", text, re.M):  # settings-table rows
            found |= set(re.findall(r"\b(\d+(?:\.\d+)?\s?[KMGT]i?B)\b", row, re.I))
    found |= {o.default for o in OPTIONS if o.parse is parse_size and isinstance(o.default, str)}
    return found


def test_every_documented_size_is_accepted() -> None:
    sizes = documented_sizes()
    assert {"2GB", "32MB", "4GB"} <= sizes, sizes  # the README's own examples are found
    for text in sizes:
        assert parse_size(text) > 0, text
    assert main(["settings", "--max-db-size", "2GB"]) == 0
    settings = load({}, environ={"RECORD_QUEUE_BYTES": "8GB", "MAX_DB_SIZE": "2GB"})
    assert (settings.record_queue_bytes, settings.max_db_bytes) == (8 * 2**30, 2 * 2**30)


# -- help ----------------------------------------------------------------------------------------


def test_help_names_commands_env_vars_defaults_and_examples() -> None:
    out = run("--help").stdout
    assert re.search(r"^  serve +run the proxy", out, re.M), out
    assert re.search(r"^  settings +print the effective settings", out, re.M), out
    flat = " ".join(out.split())
    for option in OPTIONS:
        if option.flag:
            assert option.flag in out
            assert f"env {', '.join(option.env)}; default:" in flat, option.name
        else:
            assert option.env[0] in out, option.name
    assert "[env PORT; default: 8082]" in flat and "[env HOST; default: 127.0.0.1]" in flat
    body = out.split("examples:\n")[1].splitlines()
    examples = [line.strip() for line in body if line.startswith("  ") and line[2] != " "]
    assert len(examples) == 2, body
    for example in examples:  # each example is valid as written (checked by `settings`)
        words = shlex.split(example)
        env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        argv = [w for w in words if w not in {f"{k}={v}" for k, v in env.items()}]
        assert argv[0] == "anthropic-proxy"
        assert run("settings", *argv[1:], env=clean_env(**env)).returncode == 0, example


def test_each_command_has_its_own_help() -> None:
    settings_help = run("settings", "--help").stdout
    assert (
        settings_help.startswith("usage: anthropic-proxy settings") and "--table" in settings_help
    )
    serve_help = run("serve", "--help").stdout
    assert "  --table" not in serve_help and "--port" in serve_help
    assert run("--port", "0", "settings").returncode == 2  # a command comes first or not at all

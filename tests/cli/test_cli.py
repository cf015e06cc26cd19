"""The command line and the settings table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from anthropic_proxy.cli import main, refuse_reason
from anthropic_proxy.settings import load, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", readme, re.S
    )
    assert block is not None and block.group(1) == markdown_table()


def test_precedence_cli_over_env_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9001\nLOG_LEVEL=debug\nMAX_BODY_SIZE=2MB\n# PROXY_MODE=openrouter\n")
    settings = load(
        {"port": "9003"}, environ={"PORT": "9002", "LOG_LEVEL": "warning"}, env_file=dotenv
    )
    assert (settings.port, settings.log_level, settings.max_body_bytes, settings.mode) == (
        9003,
        "WARNING",
        2 * 1024**2,
        "",
    )


def test_bad_value_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "eighty"]) == 2
    assert "invalid value for port" in capsys.readouterr().err


def test_refuses_network_bind_without_token() -> None:
    reason = refuse_reason(load({"host": "0.0.0.0"}, environ={}))
    assert reason is not None and "--auth-token" in reason
    assert (
        refuse_reason(load({"host": "0.0.0.0", "auth_token": "s3cret-token-value"}, environ={}))
        is None
    )


def test_settings_command_masks_secrets() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "anthropic_proxy", "settings"],
        env={"OPENROUTER_API_KEY": "sk-or-v1-" + "a" * 40 + "WXYZ", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "sk-or-v1-a...WXYZ" in out and "a" * 40 not in out


def test_help_lists_the_flags() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "anthropic_proxy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--log-level",
        "--mode",
        "--database-url",
        "--max-records",
    ):
        assert flag in out


def test_debug_log_shows_more_but_never_the_key(tmp_path: Path) -> None:
    """A real process at LOG_LEVEL=DEBUG: the access line and masked headers, no full key."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "sk-ant-api03-" + "k" * 60 + "QWER"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anthropic_proxy",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--upstream",
            "http://127.0.0.1:9",
            "--log-level",
            "debug",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                time.sleep(0.05)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/messages",
            data=b'{"model":"m","max_tokens":1,"messages":[]}',
            headers={"x-api-key": key, "content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request)
    finally:
        proc.terminate()  # a graceful stop drains the recorder, so its log lines are written
        log = proc.communicate(timeout=10)[1]
    assert "POST /v1/messages model=m status=502" in log
    assert "sk-ant-api...QWER" in log and key not in log

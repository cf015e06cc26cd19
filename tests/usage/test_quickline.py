"""`anthropic-proxy statusline` takes its short path (`usage.quickline`) on an existing SQLite
store, finds the store exactly as `serve` does, and prints what the full command prints;
everything else goes through the full command. No timing here: what the short path must not
import is checked with `python -X importtime`, the figures against the full command's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from anthropic_proxy import locate
from anthropic_proxy.settings import OPTIONS, load
from anthropic_proxy.storage import open_store
from anthropic_proxy.storage.sqlite import SQLiteStore
from anthropic_proxy.usage import commands, quickline
from tests.monitor.conftest import make_row
from tests.pg import fresh_schema, url_for

SLOW_IMPORTS = ("argparse", "orjson", "platformdirs", "anthropic_proxy.settings",
                "anthropic_proxy.storage.sqlite", "anthropic_proxy.usage.commands")  # fmt: skip
GIVEN = {"session_id": "s", "model": {"id": "claude-sonnet-4-5"}, "cwd": "/work/shop"}


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "anthropic_proxy", *args],
                          input=stdin.decode(), capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if "|" in line}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A real store `serve` would write, with a session, a subagent and a quota reading."""
    now = time.time()
    reading = orjson.dumps({"unified-5h-utilization": "0.42", "unified-5h-reset": str(int(now + 7200)),
                            "unified-5h-status": "allowed"}).decode()  # fmt: skip
    store = open_store("", tmp_path)
    store.open()
    store.write([
        make_row(1, started_at=now - 60, session_id="s", cost_usd=1.25, input_tokens=10,
                 cache_read_tokens=90_000, cache_creation_tokens=500, ratelimit=reading),
        make_row(2, started_at=now - 30, session_id="s", agent_id="sub", cost_usd=0.5),
        make_row(3, started_at=now - 20, session_id="other", cost_usd=2.0),
    ], {})  # fmt: skip
    store.close()
    return tmp_path


def test_short_path_prints_the_line_without_the_heavy_imports(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run("statusline", "--data-dir", str(data_dir), stdin=orjson.dumps(GIVEN))
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("$1.75 session · $3.75 today · 5h 42% ↺1h5"), line
    assert line.endswith(" · ctx 91k/200k 45%"), line
    assert not imported(done.stderr) & set(SLOW_IMPORTS), "the short path was not taken"
    # The same figures the full command computes (the reset countdown moves between the two).
    done = run("statusline", "--json", f"--data-dir={data_dir}", stdin=orjson.dumps(GIVEN))
    assert done.returncode == 0 and "anthropic_proxy.settings" not in imported(done.stderr)
    quick = orjson.loads(done.stdout)
    assert (
        commands.statusline_command(["--json", "--data-dir", str(data_dir)], orjson.dumps(GIVEN))
        == 0
    )
    full = orjson.loads(capsys.readouterr().out)
    assert quick["quota"].pop("reset_in_s") == pytest.approx(full["quota"].pop("reset_in_s"), abs=5)
    assert quick == full and quick["session_cost_usd"] == 1.75


def test_what_the_short_path_leaves_to_the_full_command(data_dir: Path, tmp_path: Path) -> None:
    # No store yet: the full command creates it (as `serve` would) and prints today's nothing.
    empty = tmp_path / "new"
    done = run("statusline", "--data-dir", str(empty), stdin=b'{"session_id": "x"}')
    assert done.stdout.strip() == "$0.00 session · $0.00 today" and "orjson" in imported(
        done.stderr
    )
    assert (empty / "exchanges.db").is_file()
    assert "--database-url" in run("statusline", "--help").stdout
    assert quickline.parse(["--data", "d"]) is None and quickline.parse(["--data-dir"]) is None
    assert quickline.parse(["--json", "--database-url", "sqlite:///x.db"]) == {
        "json": True, "database_url": "sqlite:///x.db"}  # fmt: skip


@pytest.mark.postgres
def test_postgresql_goes_through_the_full_command() -> None:
    with fresh_schema() as schema:
        store = open_store(url_for(schema), Path("unused"))
        store.open()
        store.write([make_row(1, started_at=time.time() - 5, session_id="s", cost_usd=0.75)], {})
        store.close()
        done = run("statusline", "--database-url", url_for(schema), stdin=orjson.dumps(GIVEN))
    assert done.stdout.startswith("$0.75 session · $0.75 today"), done.stdout + done.stderr
    assert "anthropic_proxy.storage.postgres" in imported(done.stderr)


def test_a_store_that_needs_a_migration_is_migrated_first(data_dir: Path) -> None:
    """The short path reads only a store the current code has fully migrated; it hands any other
    to the full command, which migrates it on opening (as the command always did)."""
    step = "032_usage_backend_priced"  # an index: undone and redone without loss
    store = open_store("", data_dir)
    store.open()
    store.execute("DROP INDEX exchanges_backend_priced")
    store.execute("DELETE FROM migrations WHERE name = ?", [step])
    store.close()
    assert quickline.answer(str(data_dir / "exchanges.db"), GIVEN) is None
    done = run("statusline", "--data-dir", str(data_dir), stdin=orjson.dumps(GIVEN))
    assert done.stdout.startswith("$1.75 session · $3.75 today · 5h 42%"), done.stderr
    assert "anthropic_proxy.storage.sqlite" in imported(done.stderr)
    store = open_store("", data_dir)
    store.open()
    assert store.fetch("SELECT name FROM migrations WHERE name = ?", [step])
    store.close()
    quick = quickline.answer(str(data_dir / "exchanges.db"), GIVEN)
    assert quick is not None and quick["session_cost_usd"] == 1.75


def test_the_store_is_found_as_serve_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_names = {o.name: o.env for o in OPTIONS if o.name in locate.STORE_ENV}
    assert env_names == {name: (env,) for name, env in locate.STORE_ENV.items()}
    dotenv = tmp_path / ".env"
    cases: list[tuple[dict[str, str | None], dict[str, str], str]] = [
        ({}, {}, ""),
        ({"data_dir": "/flag"}, {"ANTHROPIC_PROXY_DATA_DIR": "/env"}, ""),
        ({}, {"ANTHROPIC_PROXY_DATA_DIR": "/env"}, "ANTHROPIC_PROXY_DATA_DIR=/dotenv\n"),
        ({}, {"ANTHROPIC_PROXY_DATA_DIR": ""}, "export ANTHROPIC_PROXY_DATA_DIR='/dotenv'\n"),
        ({"data_dir": ""}, {"ANTHROPIC_PROXY_DATA_DIR": "/env"}, ""),
        ({}, {"DATABASE_URL": "sqlite:///some/where.db"}, "ANTHROPIC_PROXY_DATA_DIR=/d\n"),
        ({"database_url": "elsewhere.db"}, {}, "DATABASE_URL=sqlite:///x.db\n"),
        ({}, {}, "DATABASE_URL=postgresql://u@h/db\n"),
        ({"database_url": "postgres://u@h/db"}, {}, ""),
    ]
    homes = [("/home/u", None), ("/home/u/", "/xdg/data"), ("/home/u", "relative/xdg"), ("/", None)]
    for home, xdg in homes:
        monkeypatch.setenv("HOME", home)
        if xdg is None:
            monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_DATA_HOME", xdg)
        for cli, env, text in cases:
            dotenv.write_text(text)
            settings = load(cli, env, dotenv)
            store = open_store(settings.database_url, settings.data_path)
            want = str(store.path) if isinstance(store, SQLiteStore) else None
            # settings' platformdirs reads the process environment; locate is handed it
            home_env = {"HOME": home, **({"XDG_DATA_HOME": xdg} if xdg else {})}
            got = locate.sqlite_path(cli, {**env, **home_env}, str(dotenv))
            assert (got if got is None else str(Path(got))) == want, (home, xdg, cli, env, text)

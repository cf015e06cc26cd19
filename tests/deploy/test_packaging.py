"""The wheel and sdist build, pass `twine check`, and `uvx` runs the proxy from the built wheel.

The build and uvx fetch build/runtime dependencies from the package index (as a user's would).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.procs import ROOT, Proc, clean_env, free_port

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    yield out


def test_wheel_and_sdist_pass_twine_check(dist: Path) -> None:
    files = sorted(dist.iterdir(), key=lambda f: f.suffix)
    assert [f.suffix for f in files] == [".gz", ".whl"]
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    names = zipfile.ZipFile(files[1]).namelist()
    assert "anthropic_proxy/py.typed" in names and "anthropic_proxy/web/app.css" in names


async def test_uvx_runs_the_proxy_from_the_wheel(dist: Path, tmp_path: Path) -> None:
    uvx = shutil.which("uvx", path=str(BIN)) or shutil.which("uvx")
    if uvx is None:
        pytest.skip("uv is not installed (it is in the [test] extra)")
    [wheel] = dist.glob("*.whl")
    port = free_port()
    argv = [uvx, "--from", str(wheel), "anthropic-proxy", "--port", str(port),
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    proc = Proc(argv, clean_env(), tmp_path, tmp_path / "uvx.log")
    try:
        await proc.wait_healthy(f"http://127.0.0.1:{port}", timeout=180)
    finally:
        proc.stop()

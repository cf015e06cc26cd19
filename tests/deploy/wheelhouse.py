"""An offline wheelhouse: the test venv's installed distributions, packed back into wheels.

Every installed distribution keeps its files and its dist-info (RECORD lists them, WHEEL names
the tag), which is all a wheel is. Packing the ones a command needs lets pip and uv install
with no package index at all, so the install-command tests never leave the machine.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement


def closure(roots: list[str]) -> dict[str, metadata.Distribution]:
    """Every installed distribution `roots` (requirement strings, extras allowed) depend on."""
    found: dict[str, metadata.Distribution] = {}
    todo = [r for r in map(Requirement, roots) if r.marker is None or r.marker.evaluate()]
    while todo:
        req = todo.pop()
        key = _normal(req.name)
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        found[key] = dist
        for extra in ["", *sorted(req.extras)]:
            env = {**default_environment(), "extra": extra}
            todo += [
                r
                for r in map(Requirement, dist.requires or [])
                if r.marker is None or r.marker.evaluate(env)
            ]
    return found


def pack(dist: metadata.Distribution, out: Path) -> Path:
    """One installed distribution as a wheel in `out` (console scripts are re-made by the
    installer from entry_points.txt; files installed outside site-packages are left out)."""
    tag = re.search(r"^Tag: (\S+)$", dist.read_text("WHEEL") or "", re.M)
    name = _normal(dist.metadata["Name"]).replace("-", "_")
    wheel = out / f"{name}-{dist.version}-{tag.group(1) if tag else 'py3-none-any'}.whl"
    root = Path(str(dist.locate_file("")))
    files = [
        f for f in dist.files or [] if not str(f).startswith("..") and "__pycache__" not in str(f)
    ]
    record = next(str(f) for f in files if str(f).endswith(".dist-info/RECORD"))
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for file in files:
            if str(file) != record and (root / file).is_file():
                zf.write(root / file, str(file))
        zf.writestr(record, "".join(f"{f},,\n" for f in zf.namelist()) + f"{record},,\n")
    return wheel


def build(roots: list[str], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for dist in closure(roots).values():
        pack(dist, out)
    return out


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

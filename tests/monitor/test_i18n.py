"""The dashboard's two string tables: same keys, and every exchange state translated."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from anthropic_proxy.exchange import State

I18N = Path(__file__).resolve().parents[2] / "src/anthropic_proxy/web/i18n.js"
DUMP = """
const vm = require("vm");
const source = require("fs").readFileSync(process.argv[1], "utf8")
  .replace("const dictionaries = { en, zh };", "const dictionaries = { en, zh }; globalThis.__d = { en, zh };");
const context = { localStorage: {}, navigator: {}, document: {} };
vm.runInNewContext(source, context);
process.stdout.write(JSON.stringify(context.__d));
"""


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, str]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot evaluate i18n.js")
    out = subprocess.run([node, "-e", DUMP, str(I18N)], capture_output=True, check=True, text=True)
    return dict(json.loads(out.stdout))


def test_both_tables_have_the_same_keys(tables: dict[str, dict[str, str]]) -> None:
    en, zh = tables["en"], tables["zh"]
    assert sorted(set(en) - set(zh)) == [] and sorted(set(zh) - set(en)) == []


def test_every_state_is_translated_and_state_is_not_status(
    tables: dict[str, dict[str, str]],
) -> None:
    en, zh = tables["en"], tables["zh"]
    for state in State:
        key = f"state_{state.value}"
        assert key in en and key in zh, key
        assert zh[key] != en[key], f"{key} is not translated"
    assert len({zh["state"], zh["status"], zh["status_"]}) == 3  # three different words
    assert zh["state"] != zh["status"] and en["state"] != en["status"]

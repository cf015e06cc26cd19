"""The pass-through body check (simdjson, no objects built) accepts exactly what orjson parses to
a JSON object, and refuses everything else with a 400."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anthropic_proxy.errors import BadRequest
from anthropic_proxy.proxy.body import check_json_object, parse_json_body

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def verdict(check: Any, body: bytes) -> str | None:
    try:
        check(body)
    except BadRequest as error:
        assert error.status == 400
        return "refused"
    return None


@given(JSON)
def test_agrees_with_orjson_on_json_values(value: Any) -> None:
    body = orjson.dumps(value)
    assert verdict(check_json_object, body) == verdict(parse_json_body, body)
    assert (verdict(check_json_object, body) is None) == isinstance(value, dict)


@given(st.binary(max_size=64))
def test_agrees_with_orjson_on_arbitrary_bytes(body: bytes) -> None:
    assert verdict(check_json_object, body) == verdict(parse_json_body, body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  ",
        b"{bad",
        b'{"a": 1,}',
        b'{"a": "\xff"}',
        b'{"a": 1} x',
        b"[1]",
        b'"s"',
        b"{'a': 1}",
    ],
)
def test_refuses_what_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(BadRequest):
        check_json_object(body)


def test_refuses_a_document_nested_too_deep() -> None:
    with pytest.raises(BadRequest):
        check_json_object(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_accepts_a_large_object_with_unicode() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "héllo ✓ " * 40_000}]}).encode()
    check_json_object(body)

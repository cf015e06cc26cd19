"""The streamed-tool-input guard: whatever arrives, in whatever pieces, what was sent closes validly."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.translate.partial_json import JsonPrefix

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(alphabet=st.sampled_from(list('ab "\\\n\t/é漢🙂\x01')), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
OBJECTS = st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=4)
GARBAGE = st.text(
    alphabet=st.sampled_from(list('{}[]",:\\ 0123456789.-eEtrufalsn\nab')), max_size=40
)
CUTS = st.lists(st.integers(0, 400), max_size=12)


def stream(text: str, cuts: list[int]) -> tuple[str, JsonPrefix]:
    """Feed `text` in pieces; return what a client received (safe prefixes) plus the closer."""
    edges = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
    guard, sent = JsonPrefix(), 0
    for start, stop in itertools.pairwise(edges):
        guard.feed(text[start:stop])
        sent = max(sent, guard.safe)
    return text[:sent] + guard.closer(), guard


@settings(max_examples=400, deadline=None)
@given(obj=OBJECTS, cuts=CUTS, indent=st.sampled_from([None, 1]))
def test_a_valid_object_arrives_whole_however_split(
    obj: dict[str, Any], cuts: list[int], indent: int | None
) -> None:
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    received, guard = stream(text, cuts)
    assert guard.complete and json.loads(received) == obj


@settings(max_examples=400, deadline=None)
@given(text=GARBAGE, cuts=CUTS)
def test_anything_starting_an_object_closes_into_a_valid_object(text: str, cuts: list[int]) -> None:
    received, _ = stream("{" + text, cuts)
    assert isinstance(json.loads(received), dict)
    assert received.startswith("{")


@settings(max_examples=200, deadline=None)
@given(obj=OBJECTS, cut=st.integers(0, 400))
def test_a_cut_off_object_closes_into_a_prefix_of_it(obj: dict[str, Any], cut: int) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    received, _ = stream(text[: cut % (len(text) + 1)] or "{", [])
    assert isinstance(json.loads(received), dict)

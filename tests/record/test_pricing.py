"""The recorder's pricer gives genai-prices' own answer, faster (linear within a tier)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anthropic_proxy.record import pricing

MODELS = [
    ("claude-sonnet-4-5-20250929", "anthropic"),  # tiered: long-context prices above 200k
    ("claude-haiku-4-5", "anthropic"),
    ("claude-opus-4-1-20250805", "anthropic"),
    ("anthropic/claude-sonnet-4.5", "openrouter"),
    ("openai/gpt-4o-mini", "openrouter"),
]
tokens = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MODELS), tokens, st.integers(0, 64_000), tokens, st.integers(0, 100_000))
def test_pricer_equals_the_library(
    model: tuple[str, str], uncached: int, output: int, read: int, write: int
) -> None:
    usage = {
        "input_tokens": uncached,
        "output_tokens": output,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }
    exact = pricing.price(model[0], model[1], usage)
    assert exact is not None
    assert pricing.Pricer()(model[0], model[1], usage) == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_tiered_model_crosses_its_tier() -> None:
    """Above 200k input tokens Sonnet 4.5 costs more per token: the fast path must not apply."""
    pricer = pricing.Pricer()
    small = {"input_tokens": 100_000, "output_tokens": 1000}
    large = {"input_tokens": 300_000, "output_tokens": 1000}
    model = "claude-sonnet-4-5-20250929"
    assert pricer(model, "anthropic", small) == pytest.approx(
        pricing.price(model, "anthropic", small)
    )
    assert pricer(model, "anthropic", large) == pytest.approx(
        pricing.price(model, "anthropic", large)
    )
    per_token_small = pricer(model, "anthropic", small) / 100_000  # type: ignore[operator]
    per_token_large = pricer(model, "anthropic", large) / 300_000  # type: ignore[operator]
    assert per_token_large > per_token_small


def test_unknown_model_has_no_price() -> None:
    assert pricing.Pricer()("no-such-model-xyz", "anthropic", {"input_tokens": 5}) is None

"""Cost from genai-prices: maintained price data, not a hand-kept table."""

from __future__ import annotations

from genai_prices import Usage, __version__, calc_price

PRICE_VERSION = f"genai-prices {__version__}"
PROVIDERS = {"anthropic": "anthropic", "openrouter": "openrouter"}


def price(model: str | None, mode: str, usage: dict[str, int]) -> float | None:
    """USD for one exchange, or None when the model is unknown to the price data."""
    if not model or not usage:
        return None
    cache_read = usage.get("cache_read_input_tokens", 0)
    cache_write = usage.get("cache_creation_input_tokens", 0)
    total_input = usage.get("input_tokens", 0) + cache_read + cache_write
    try:
        result = calc_price(
            Usage(
                input_tokens=total_input,
                output_tokens=usage.get("output_tokens", 0),
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            ),
            model_ref=model,
            provider_id=PROVIDERS.get(mode),
        )
    except (LookupError, ValueError):
        return None
    return float(result.total_price)

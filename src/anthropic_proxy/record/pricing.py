"""Cost from genai-prices: maintained price data, not a hand-kept table."""

from __future__ import annotations

from functools import lru_cache

from genai_prices import Usage, __version__, calc_price

PRICE_VERSION = f"genai-prices {__version__}"
PROVIDERS = {"anthropic": "anthropic", "openrouter": "openrouter"}


class Pricer:
    """Prices usage. A calculation takes ~80 us; probes, retries and side requests repeat the
    same usage, so each recorder keeps recent answers."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._price = lru_cache(maxsize=cache_size)(_price)

    def __call__(self, model: str | None, mode: str, usage: dict[str, int]) -> float | None:
        """USD for one exchange, or None when the model is unknown to the price data."""
        if not model or not usage:
            return None
        return self._price(
            model,
            mode,
            usage.get("input_tokens", 0),
            usage.get("output_tokens", 0),
            usage.get("cache_read_input_tokens", 0),
            usage.get("cache_creation_input_tokens", 0),
        )


def price(model: str | None, mode: str, usage: dict[str, int]) -> float | None:
    """Uncached: for occasional what-if prices (the cache diagnostics)."""
    return Pricer(cache_size=0)(model, mode, usage)


def _price(
    model: str, mode: str, input_tokens: int, output: int, cache_read: int, cache_write: int
) -> float | None:
    total_input = input_tokens + cache_read + cache_write
    try:
        result = calc_price(
            Usage(
                input_tokens=total_input,
                output_tokens=output,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            ),
            model_ref=model,
            provider_id=PROVIDERS.get(mode),
        )
    except (LookupError, ValueError):
        return None
    return float(result.total_price)

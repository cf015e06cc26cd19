"""Cost from genai-prices: maintained price data, not a hand-kept table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from genai_prices import Usage, __version__, calc_price
from genai_prices.types import TieredPrices

PRICE_VERSION = f"genai-prices {__version__}"
PROVIDERS = {"anthropic": "anthropic", "openrouter": "openrouter"}
COMPONENTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
RATES_TTL_S = 3600.0  # prices change by date; a day-long recorder picks up the new ones


@dataclass(frozen=True)
class Rates:
    """One model's prices as genai-prices computes them, made linear: the price of a request
    with no tokens, and what each token of each kind adds, valid while the total input stays
    under the first tier (long-context prices) of any component."""

    base: float
    per_token: tuple[float, float, float, float]
    linear_below: float  # total input tokens; inf when the model has no tiers

    def price(self, counts: tuple[int, int, int, int]) -> float:
        return self.base + sum(n * r for n, r in zip(counts, self.per_token, strict=True))


class Pricer:
    """Prices usage. genai-prices takes ~100-250 µs a calculation (Decimal arithmetic, price
    selection by date), which was a third of the recorder's time per exchange; within a tier a
    price is linear in the token counts, so each model's rates are computed once by the library
    and applied here. Usage past a tier boundary is priced by the library itself."""

    def __init__(self) -> None:
        self._rates: dict[tuple[str, str], tuple[float, Rates | None]] = {}

    def __call__(self, model: str | None, mode: str, usage: dict[str, int]) -> float | None:
        """USD for one exchange, or None when the model is unknown to the price data."""
        if not model or not usage:
            return None
        counts = _counts(usage)
        rates = self._rates_for(model, mode)
        if rates is None:
            return None
        total_input = counts[0] + counts[2] + counts[3]
        if max(total_input, counts[1]) < rates.linear_below:
            return rates.price(counts)
        return _price(model, mode, *counts)

    def _rates_for(self, model: str, mode: str) -> Rates | None:
        now = time.monotonic()
        cached = self._rates.get((model, mode))
        if cached is None or now - cached[0] > RATES_TTL_S:
            cached = (now, _rates(model, mode))
            self._rates[(model, mode)] = cached
        return cached[1]


def price(model: str | None, mode: str, usage: dict[str, int]) -> float | None:
    """Uncached: for occasional what-if prices (the cache diagnostics)."""
    if not model or not usage:
        return None
    return _price(model, mode, *_counts(usage))


def _counts(usage: dict[str, int]) -> tuple[int, int, int, int]:
    """(uncached input, output, cache read, cache write) from an Anthropic usage object."""
    return (
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        usage.get("cache_read_input_tokens") or 0,
        usage.get("cache_creation_input_tokens") or 0,
    )


def _rates(model: str, mode: str) -> Rates | None:
    base = _price(model, mode, 0, 0, 0, 0)
    if base is None:
        return None
    units = [(0,) * i + (1,) + (0,) * (3 - i) for i in range(4)]
    per_token = tuple((_price(model, mode, *u) or 0.0) - base for u in units)
    return Rates(base, (per_token[0], per_token[1], per_token[2], per_token[3]),
                 _first_tier(model, mode))  # fmt: skip


def _first_tier(model: str, mode: str) -> float:
    """Where the first tiered price starts (in total input tokens); 0 if it cannot be read,
    which sends every request to the library."""
    try:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        _, info = snapshot.find_provider_model(model, None, PROVIDERS.get(mode), None)
        prices = info.get_prices(datetime.now(tz=UTC))
    except (LookupError, ValueError, AttributeError):
        return 0.0
    starts = [
        tier.start
        for name in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
        if isinstance(value := getattr(prices, name, None), TieredPrices)
        for tier in value.tiers
    ]
    return float(min(starts)) if starts else float("inf")


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

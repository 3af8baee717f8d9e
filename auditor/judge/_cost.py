"""Token and cost accounting: prices are USD per 1M tokens, as providers quote them."""

from __future__ import annotations

__all__ = ["cost_usd"]


def cost_usd(tokens_in: int, tokens_out: int, price_in_per_1m: float | None,
             price_out_per_1m: float | None) -> float | None:
    """The cost of these tokens, or ``None`` when the config gives no prices (unknown, not free).

    >>> cost_usd(2_000_000, 500_000, 0.15, 0.60)
    0.6
    """
    if price_in_per_1m is None or price_out_per_1m is None:
        return None
    return round((tokens_in * price_in_per_1m + tokens_out * price_out_per_1m) / 1_000_000, 10)

"""Cost of a request in USD from tokens and the provider's price table; `cf-aig-custom-cost` overrides."""

from __future__ import annotations

from kumo.gateway.providers.base import Provider, Usage


def cost_of(provider: Provider, model: str | None, usage: Usage, custom: dict[str, float] | None) -> float | None:
    if custom is not None:
        if "total_cost" in custom:
            return float(custom["total_cost"])
        return usage.tokens_in * custom.get("per_token_in", 0.0) + usage.tokens_out * custom.get("per_token_out", 0.0)
    price = provider.price_of(model)
    if price is None:
        return None
    cached = min(usage.cached_in, usage.tokens_in)
    cached_price = price.cached_input if price.cached_input is not None else price.input
    # reasoning tokens are already part of the output count and billed as output
    return ((usage.tokens_in - cached) * price.input + cached * cached_price + usage.tokens_out * price.output) / 1e6

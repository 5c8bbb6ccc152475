from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="grok",
    base_url="https://api.x.ai",
    chat_path="v1/chat/completions",
    prices={"grok-4": Price(3.0, 15.0, 0.75), "grok-3": Price(3.0, 15.0, 0.75), "grok-3-mini": Price(0.30, 0.50, 0.075)},
)

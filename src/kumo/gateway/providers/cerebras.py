from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="cerebras",
    base_url="https://api.cerebras.ai/v1",
    prices={"llama3.1-8b": Price(0.10, 0.10), "llama-3.3-70b": Price(0.85, 1.20), "gpt-oss-120b": Price(0.35, 0.75)},
)

from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="groq",
    base_url="https://api.groq.com/openai/v1",
    prices={
        "llama-3.3-70b-versatile": Price(0.59, 0.79),
        "llama-3.1-8b-instant": Price(0.05, 0.08),
        "openai/gpt-oss-120b": Price(0.15, 0.75),
        "openai/gpt-oss-20b": Price(0.10, 0.50),
    },
)

from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="openai",
    base_url="https://api.openai.com/v1",
    credential_headers=("authorization", "openai-organization", "openai-project"),
    answer_headers=("openai-beta",),
    prices={
        "gpt-5": Price(1.25, 10.0, 0.125),
        "gpt-5-mini": Price(0.25, 2.0, 0.025),
        "gpt-5-nano": Price(0.05, 0.40, 0.005),
        "gpt-4.1": Price(2.0, 8.0, 0.50),
        "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
        "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
        "gpt-4o": Price(2.50, 10.0, 1.25),
        "gpt-4o-mini": Price(0.15, 0.60, 0.075),
        "o3": Price(2.0, 8.0, 0.50),
        "o4-mini": Price(1.10, 4.40, 0.275),
        "gpt-3.5-turbo": Price(0.50, 1.50),
        "text-embedding-3-small": Price(0.02, 0.0),
        "text-embedding-3-large": Price(0.13, 0.0),
        "text-embedding-ada-002": Price(0.10, 0.0),
    },
)

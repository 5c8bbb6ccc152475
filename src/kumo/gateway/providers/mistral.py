from kumo.gateway.providers.base import Price, Provider

PROVIDER = Provider(
    slug="mistral",
    base_url="https://api.mistral.ai",
    chat_path="v1/chat/completions",
    prices={
        "mistral-large": Price(2.0, 6.0),
        "mistral-medium": Price(0.40, 2.0),
        "mistral-small": Price(0.10, 0.30),
        "codestral": Price(0.30, 0.90),
        "open-mistral-nemo": Price(0.15, 0.15),
    },
)

from typing import Any

from kumo.gateway.providers.base import Price, Provider


def continue_answer(body: dict[str, Any], text: str) -> dict[str, Any]:
    """Mistral continues a last assistant message marked `"prefix": true` (its documented prefix mode)."""
    return {**body, "messages": [*(body.get("messages") or []),
                                 {"role": "assistant", "content": text, "prefix": True}]}


PROVIDER = Provider(
    slug="mistral",
    base_url="https://api.mistral.ai",
    chat_path="v1/chat/completions",
    continue_answer=continue_answer,
    prices={
        "mistral-large": Price(2.0, 6.0),
        "mistral-medium": Price(0.40, 2.0),
        "mistral-small": Price(0.10, 0.30),
        "codestral": Price(0.30, 0.90),
        "open-mistral-nemo": Price(0.15, 0.15),
    },
)

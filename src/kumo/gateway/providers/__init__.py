"""Gateway providers, one module each (see base.py for the shape). Adding a provider = one module + one line."""

from __future__ import annotations

from kumo.gateway.providers import (
    anthropic,
    aws_bedrock,
    azure_openai,
    cerebras,
    cohere,
    deepseek,
    google_ai_studio,
    google_vertex_ai,
    grok,
    groq,
    huggingface,
    mistral,
    openai,
    openrouter,
    perplexity_ai,
    replicate,
    workers_ai,
)
from kumo.gateway.providers.base import Provider

PROVIDERS: dict[str, Provider] = {
    m.PROVIDER.slug: m.PROVIDER
    for m in (
        openai, anthropic, workers_ai, azure_openai, aws_bedrock, google_vertex_ai, google_ai_studio, huggingface,
        replicate, groq, mistral, cohere, perplexity_ai, deepseek, grok, openrouter, cerebras,
    )
}

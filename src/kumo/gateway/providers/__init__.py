"""Gateway providers, one module each (see base.py for the shape). Adding a provider = one module + one line in
_MODULES."""

from __future__ import annotations

from importlib import import_module

from kumo.gateway.providers.base import Provider

_MODULES = (
    "openai", "anthropic", "workers_ai", "azure_openai", "aws_bedrock", "google_vertex_ai", "google_ai_studio",
    "huggingface", "replicate", "groq", "mistral", "cohere", "perplexity_ai", "deepseek", "grok", "openrouter",
    "cerebras",
)

PROVIDERS: dict[str, Provider] = {
    p.slug: p for p in (import_module(f"{__name__}.{name}").PROVIDER for name in _MODULES)
}
# every provider's credential headers: never logged, whichever provider a request went to
CREDENTIAL_HEADERS: frozenset[str] = frozenset(h for p in PROVIDERS.values() for h in p.credential_headers)

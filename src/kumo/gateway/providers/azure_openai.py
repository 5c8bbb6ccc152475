"""Azure OpenAI: `/azure-openai/{resource}/{deployment}/chat/completions?api-version=...`, `api-key` header."""

from kumo.gateway.providers.base import Provider

PROVIDER = Provider(
    slug="azure-openai",
    base_url="https://{resource}.openai.azure.com/openai/deployments/{deployment}",
    credential_headers=("api-key", "authorization"),
    chat_path=None,
)

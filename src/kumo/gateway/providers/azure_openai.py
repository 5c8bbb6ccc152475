"""Azure OpenAI: `/azure-openai/{resource}/{deployment}/chat/completions?api-version=...`, `api-key` header."""

import re

from kumo.gateway.providers.base import Provider, Segment

RESOURCE = Segment("resource", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"),
                   "an Azure resource name: up to 63 letters, digits and '-', not starting or ending with '-'")
DEPLOYMENT = Segment("deployment", re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"),
                     "an Azure deployment name: up to 64 letters, digits, '.', '_' and '-', starting with a letter "
                     "or digit")

PROVIDER = Provider(
    slug="azure-openai",
    base_url="https://{resource}.openai.azure.com/openai/deployments/{deployment}",
    segments=(RESOURCE, DEPLOYMENT),
    credential_headers=("api-key", "authorization"),
    answer_headers=("openai-beta",),
    chat_path=None,
)

from kumo.gateway.providers.base import Provider

PROVIDER = Provider(slug="openrouter", base_url="https://openrouter.ai/api", chat_path="v1/chat/completions")

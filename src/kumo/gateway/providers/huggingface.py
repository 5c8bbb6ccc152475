from kumo.gateway.providers.base import Provider

PROVIDER = Provider(slug="huggingface", base_url="https://api-inference.huggingface.co/models", chat_path=None)

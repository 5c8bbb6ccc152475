from kumo.gateway.providers.base import Provider

PROVIDER = Provider(slug="replicate", base_url="https://api.replicate.com/v1", chat_path=None)

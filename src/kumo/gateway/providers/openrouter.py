from kumo.gateway.providers.base import Provider
from kumo.gateway.providers.chat import continue_by_prefill

# OpenRouter documents assistant prefill: a last assistant message is continued, for the models that allow it
PROVIDER = Provider(slug="openrouter", base_url="https://openrouter.ai/api", chat_path="v1/chat/completions",
                    continue_answer=continue_by_prefill)

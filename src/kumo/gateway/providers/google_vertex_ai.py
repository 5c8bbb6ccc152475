"""Google Vertex AI: `/google-vertex-ai/v1/projects/{p}/locations/{region}/publishers/google/models/{m}:generateContent`.
The region in the path picks the regional endpoint."""

from kumo.gateway.providers import google_ai_studio
from kumo.gateway.providers.base import Provider

PROVIDER = Provider(
    slug="google-vertex-ai",
    base_url="https://{region}-aiplatform.googleapis.com",
    credential_headers=("authorization", "x-goog-api-key"),
    usage_from_json=google_ai_studio.usage_from_json,
    usage_from_stream=google_ai_studio.usage_from_stream,
    stream_complete=google_ai_studio.stream_complete,
    model_of=google_ai_studio.model_of,
    chat_path=None,
    prices=google_ai_studio.PROVIDER.prices,
)

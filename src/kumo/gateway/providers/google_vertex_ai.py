"""Google Vertex AI: `/google-vertex-ai/v1/projects/{p}/locations/{region}/publishers/google/models/{m}:generateContent`.
The region in the path picks the regional endpoint (`global`: the global one); the path reaches Vertex as it is."""

from __future__ import annotations

import re

from kumo.gateway.providers import google_ai_studio
from kumo.gateway.providers.base import Provider, Segment

REGION = Segment("region", re.compile(r"global|[a-z]+(?:-[a-z]+)+[0-9]{1,2}"),
                 "a Google Cloud region such as us-central1, or global")
PROJECT = Segment("project", re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}"),
                  "a Google Cloud project id (6-30 lowercase letters, digits and '-') or project number")
HOST = Segment("host", re.compile(r"(?:[a-z0-9-]+-)?aiplatform\.googleapis\.com"), "a Vertex AI host")
DEFAULT_REGION = "us-central1"
_LOCATION = re.compile(r"(?:^|/)locations/([^/]*)")
_PROJECT = re.compile(r"(?:^|/)projects/([^/]*)")


def split_path(path: str) -> tuple[dict[str, str], str]:
    location, project = _LOCATION.search(path), _PROJECT.search(path)
    region = location.group(1) if location else DEFAULT_REGION
    values = {"region": region,
              "host": "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"}
    if project:
        values["project"] = project.group(1)
    return values, path


PROVIDER = Provider(
    slug="google-vertex-ai",
    base_url="https://{host}",
    segments=(REGION, PROJECT, HOST),
    split_path=split_path,
    credential_headers=("authorization", "x-goog-api-key"),
    credential_query=("key",),
    usage_from_json=google_ai_studio.usage_from_json,
    usage_from_stream=google_ai_studio.usage_from_stream,
    stream_complete=google_ai_studio.stream_complete,
    model_of=google_ai_studio.model_of,
    chat_path=None,
    prices=google_ai_studio.PROVIDER.prices,
)

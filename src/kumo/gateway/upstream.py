"""Where a gateway request goes: the provider's base URL (or its override) plus the provider's own path.

A base URL may be a template whose `{names}` come from the leading path segments: Azure's
`https://{resource}.openai.azure.com/openai/deployments/{deployment}` takes `/{resource}/{deployment}/...`.
Overrides come from `KUMO_UPSTREAM_<SLUG>` or `[upstreams]` in kumo.toml (how tests and users point
providers at fakes, proxies or local servers).
"""

from __future__ import annotations

import re

from kumo.gateway.errors import BAD_REQUEST, GatewayError
from kumo.gateway.providers import workers_ai
from kumo.gateway.providers.base import Provider

_PLACEHOLDER = re.compile(r"{(\w+)}")
_VERTEX_REGION = re.compile(r"locations/([^/]+)")


def upstream_url(provider: Provider, path: str, account: str, override: str | None = None) -> str:
    path = path.lstrip("/")
    names = [n for n in _PLACEHOLDER.findall(provider.base_url) if n != "account"]
    values: dict[str, str] = {"account": account}
    if provider.slug == "google-vertex-ai":
        match = _VERTEX_REGION.search(path)
        values["region"] = match.group(1) if match else "us-central1"
    elif names:
        segments = path.split("/")
        if len(segments) <= len(names):
            raise GatewayError(400, BAD_REQUEST,
                               f"{provider.slug} paths start with /{'/'.join('{' + n + '}' for n in names)}/...")
        values.update(zip(names, segments[: len(names)]))
        path = "/".join(segments[len(names):])
    if provider.slug == "workers-ai":
        path = workers_ai.upstream_path(path)
    base = override or provider.base_url
    try:
        base = base.format(**values) if "{" in base else base
    except KeyError as exc:
        raise GatewayError(400, BAD_REQUEST, f"the upstream URL of {provider.slug} needs {exc} in the path") from None
    return base.rstrip("/") + "/" + path

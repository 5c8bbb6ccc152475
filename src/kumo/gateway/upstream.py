"""Where a gateway request goes: the provider's base URL (or its override) plus the provider's own path.

A base URL may be a template whose `{names}` are the provider's `segments`, taken from the caller's path (by
default its leading segments: Azure's `https://{resource}.openai.azure.com/openai/deployments/{deployment}` takes
`/{resource}/{deployment}/...`; a provider may split its path its own way), and `{account}`, the caller's account.
Overrides come from `KUMO_UPSTREAM_<SLUG>` or `[upstreams]` in kumo.toml (how tests and users point
providers at fakes, proxies or local servers).
"""

from __future__ import annotations

from kumo.gateway.errors import BAD_REQUEST, GatewayError
from kumo.gateway.providers.base import Provider


def upstream_url(provider: Provider, path: str, account: str, override: str | None = None) -> str:
    values, path = _split(provider, path.lstrip("/"))
    values["account"] = account
    base = override or provider.base_url
    try:
        base = base.format(**values) if "{" in base else base
    except KeyError as exc:
        raise GatewayError(400, BAD_REQUEST, f"the upstream URL of {provider.slug} needs {exc} in the path") from None
    return base.rstrip("/") + "/" + path


def _split(provider: Provider, path: str) -> tuple[dict[str, str], str]:
    """The template's values and the provider's own path."""
    if provider.split_path is not None:
        return provider.split_path(path)
    names = [segment.name for segment in provider.segments]
    if not names:
        return {}, path
    parts = path.split("/")
    if len(parts) <= len(names):
        raise GatewayError(400, BAD_REQUEST,
                           f"{provider.slug} paths start with /{'/'.join('{' + n + '}' for n in names)}/...")
    return dict(zip(names, parts)), "/".join(parts[len(names):])

"""Where a gateway request goes: the provider's base URL (or its override) plus the provider's own path.

A base URL may be a template whose `{names}` are the provider's `segments`, taken from the caller's path (by
default its leading segments: Azure's `https://{resource}.openai.azure.com/openai/deployments/{deployment}` takes
`/{resource}/{deployment}/...`; a provider may split its path its own way), and `{account}`, the caller's account.
Overrides come from `KUMO_UPSTREAM_<SLUG>` or `[upstreams]` in kumo.toml (how tests and users point
providers at fakes, proxies or local servers).

The caller chooses those values and the path, so nothing they send may move the request elsewhere: every value is
checked against what the provider allows (a hostname label, a region name...) before it is pasted in, the path may
not hold `.` or `..` segments and is re-encoded (a decoded `%23` or `%3F` stays part of the path), and the URL made
must keep the template's scheme, host, port and base path. Anything else is a 400 before any connection is made.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import SplitResult, quote, urlsplit

from kumo.gateway.errors import BAD_REQUEST, GatewayError
from kumo.gateway.providers.base import Provider, Segment

ACCOUNT = Segment("account", re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"),
                  "an account id: up to 128 letters, digits, '.', '_' and '-', not starting with '.'")
_TEMPLATE_FIELD = re.compile(r"{(\w+)}")
# whatever a template's author allowed, a value in a host is a DNS name and a value in a path one path segment
_HOST_VALUE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_PATH_VALUE = re.compile(r"[A-Za-z0-9_~!$&'()*+,;=:@.-]+")
# a query goes as the caller encoded it ('%' kept); only what may not stand in a request line is encoded
_QUERY_SAFE = "%/?:@!$&'()*+,;=-._~"
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_PLAIN = re.compile(r"[A-Za-z0-9/_.~-]*")  # needs no encoding, whatever the provider keeps


def upstream_url(provider: Provider, path: str, account: str, override: str | None = None, query: str = "") -> str:
    """The URL to send, fully encoded (sent as it is: see upstream_http.py)."""
    template = override or provider.base_url
    values, path = _split(provider, path.lstrip("/"))
    for name, value in values.items():
        _check(provider, _segment(provider, name), value)
    if "{account}" in template:
        values["account"] = _check(provider, ACCOUNT, account)
    base, prefix = _fill(provider, template, values)
    url = base.rstrip("/") + "/" + _path(path, provider.path_safe)
    parts = urlsplit(url)
    if (parts.scheme, parts.netloc) != (prefix.scheme, prefix.netloc) or parts.query or parts.fragment \
            or not parts.path.startswith(prefix.path.rstrip("/") + "/"):  # pragma: no cover (the checks above hold)
        raise GatewayError(400, BAD_REQUEST, f"this path would leave {provider.slug}'s base URL")
    return url + "?" + quote(query, safe=_QUERY_SAFE, errors="replace") if query else url


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


def _segment(provider: Provider, name: str) -> Segment:
    for segment in provider.segments:
        if segment.name == name:
            return segment
    raise AssertionError(f"{provider.slug} splits out {name!r} without declaring it among its segments")


def _check(provider: Provider, segment: Segment, value: str) -> str:
    if not segment.pattern.fullmatch(value):
        shown = ascii(value[:80])  # ascii(): whatever the caller sent can be shown in the error's JSON
        raise GatewayError(400, BAD_REQUEST, f"{provider.slug}: the {segment.name} in the path, {shown}, "
                                             f"is not {segment.rule}")
    return value


@lru_cache(maxsize=256)
def _shape(template: str) -> tuple[SplitResult, tuple[str, ...], tuple[str, ...]]:
    """A base URL template's parts, and the names in its host and in its path (parsed once per template)."""
    shape = urlsplit(template)
    return shape, tuple(_TEMPLATE_FIELD.findall(shape.netloc)), tuple(_TEMPLATE_FIELD.findall(shape.path))


def _fill(provider: Provider, template: str, values: dict[str, str]) -> tuple[str, SplitResult]:
    """The base URL with its values pasted in, and the parts it must keep (scheme, host and port, base path)."""
    try:
        shape, in_host, in_path = _shape(template)
        if not (in_host or in_path):
            return template, shape
        for name in in_host:
            if not _HOST_VALUE.fullmatch(values[name]):
                raise GatewayError(400, BAD_REQUEST, f"{provider.slug}: the {name} in the path cannot be part of a "
                                                     "host name")
        for name in in_path:
            if not _PATH_VALUE.fullmatch(values[name]) or values[name] in (".", ".."):
                raise GatewayError(400, BAD_REQUEST, f"{provider.slug}: the {name} in the path must be one path "
                                                     "segment")
        base = template.format(**values)
        prefix = shape._replace(netloc=shape.netloc.format(**values), path=shape.path.format(**values))
    except KeyError as exc:
        raise GatewayError(400, BAD_REQUEST, f"the upstream URL of {provider.slug} needs {exc} in the path") from None
    except (ValueError, IndexError):  # an override that is not a URL template (a stray "{" or "}")
        raise GatewayError(400, BAD_REQUEST, f"the upstream URL configured for {provider.slug} is not a valid "
                                             "template") from None
    return base, prefix


def _path(path: str, safe: str) -> str:
    """The provider's own path, re-encoded: no `.`/`..` segment (it would climb out of the base path), and what was
    `%23`, `%3F` or `%2F`-decoded stays inside the path instead of starting a fragment or a query."""
    if _DOT_SEGMENT.search(path):
        raise GatewayError(400, BAD_REQUEST, "a provider path may not hold '.' or '..' segments")
    return path if _PLAIN.fullmatch(path) else quote(path, safe=safe, errors="replace")

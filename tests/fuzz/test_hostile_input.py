"""Hostile input over real HTTP against one `kumo serve`, every route of every product: a request may get a 2xx or a
4xx in its product's error shape; never a 5xx, never a dropped connection, and a rejected write leaves stored state
as it was. Deterministic (`derandomize`): CI runs the same examples every time; ~2 minutes in all."""

from __future__ import annotations

import io
import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.catalog import ACCOUNT, GATEWAY, INDEX, INSTANCE, PARAM, PARAMS, Target, targets
from tests.fuzz.strategies import (HOSTILE_STRINGS, RAW_BODIES, dumps, encoded, headers, hostile, mutated,
                                   path_segment, queries)

TARGETS = targets()
EXAMPLES = {"vectorize": 250, "workers-ai": 80, "openai": 80, "aisearch": 300, "gateway-admin": 250,
            "gateway": 250, "other": 30, "dashboard": 60}
# CI runs the same examples every time; to explore, FUZZ_SEED=<n> draws others and FUZZ_SCALE=<k> draws k times more
SEED = os.environ.get("FUZZ_SEED")
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BASE = f"/client/v4/accounts/{ACCOUNT}"
SNAPSHOTS = {
    "vectorize": [f"{BASE}/vectorize/v2/indexes", f"{BASE}/vectorize/v2/indexes/{INDEX}/list",
                  f"{BASE}/vectorize/v2/indexes/{INDEX}/metadata_index/list"],
    "aisearch": [f"{BASE}/ai-search/namespaces", f"{BASE}/ai-search/instances?per_page=100",
                 f"{BASE}/ai-search/instances/{INSTANCE}",
                 # in upload order: the default order (status, then last activity) moves as background indexing ends
                 f"{BASE}/ai-search/instances/{INSTANCE}/items?per_page=100&sort_by=modified_at"],
    "gateway-admin": [f"{BASE}/ai-gateway/gateways?per_page=100", f"{BASE}/ai-gateway/gateways/{GATEWAY}",
                      f"{BASE}/ai-gateway/gateways/{GATEWAY}/routes"],
}
# what accepted earlier writes keep changing in the background (indexing, jobs, clocks), not what a write sets
VOLATILE = {"status", "ended_at", "started_at", "last_seen_at", "modified_at", "last_activity", "created_at",
            "processedUpToDatetime", "processedUpToMutation", "vectorCount", "chunks_count", "progress",
            "end_reason", "error", "result_info", "count", "timestamp", "last_indexed_at", "next_sync_at"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def snapshot(client: httpx.Client, product: str) -> list[Any]:
    out = []
    for url in SNAPSHOTS.get(product, []):
        response = client.get(url)
        assert response.status_code == 200, f"snapshot {url}: {response.status_code} {response.text[:300]}"
        out.append((url, _stable(response.json())))
    return out


@st.composite
def requests(draw, chosen: list[Target], seeded_ids: dict[str, str]) -> dict[str, Any]:
    target = draw(st.sampled_from(chosen))
    names = PARAM.findall(target.path)
    # all path parameters name the seeded resources, so the request reaches its handler; or one of them is hostile
    hostile_name = draw(st.sampled_from(names + [None] * (2 * len(names) + 1))) if names else None
    if target.method == "DELETE" and names:
        hostile_name = names[-1]  # never delete what the other examples use

    def value(match) -> str:
        name = match.group(1)
        seeded = seeded_ids.get(name, PARAMS[name][0])
        if name != hostile_name:
            return path_segment(seeded)
        return path_segment(draw(st.sampled_from([c for c in PARAMS[name] if c != seeded])))

    url = PARAM.sub(value, target.path)
    query = draw(queries())
    request: dict[str, Any] = {"target": target, "method": target.method, "url": url + ("?" + query if query else ""),
                               "headers": {"content-type": b"application/json", "authorization": b"Bearer sk-fuzz",
                                           **draw(headers())}}
    if target.method in ("GET", "DELETE") and target.body is None:
        return request
    if target.method == "POST" and target.path.endswith("/items"):  # AI Search upload: multipart
        name = draw(st.sampled_from(["a.txt", "Grüße.md", "x.pdf", "..\\..\\a.txt", "a" * 300 + ".txt", "", "b.bin"]
                                    + [s for s in HOSTILE_STRINGS if s.isprintable() and "\ud83d" not in s
                                       and "\udc00" not in s]))
        data = draw(st.sampled_from([b"hello world", b"\xff\xfe\x00junk", b"%PDF-1.4 junk", b""]))
        metadata = dumps(draw(st.one_of(hostile, st.just({"category": "a"}))))
        request["files"] = {"file": (name, io.BytesIO(data)), "metadata": (None, encoded(metadata)),
                            "wait_for_completion": (None, draw(st.sampled_from(["true", "no", "\ud83d"]).map(encoded)))}
        request["headers"].pop("content-type")
        return request
    if draw(st.integers(0, 9)) == 0:
        request["content"] = draw(st.sampled_from(RAW_BODIES))
        return request
    body = draw(mutated(target.body if target.body is not None else {}))
    if target.ndjson and isinstance(body, dict):
        text = dumps(body) + "\n" + dumps({**body, "id": "v2"})
    else:
        text = dumps(body)
    request["content"] = encoded(text)
    return request


def _error_shape(product: str, response: httpx.Response) -> str | None:
    """None when the error is in the product's shape, else what is wrong."""
    if product == "dashboard":  # pages answer HTML (a sign-in redirect, a refusal page) or the envelope
        return None
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    if product == "gateway":
        ok = isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), list)
        return None if ok and _items_ok(body.get("errors")) else "not the gateway's error shape"
    if product == "openai":
        err = body.get("error") if isinstance(body, dict) else None
        ok = isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
        return None if ok else "not OpenAI's error object"
    ok = isinstance(body, dict) and body.get("success") is False and _items_ok(body.get("errors"))
    return None if ok else "not Cloudflare's envelope"


def _items_ok(errors: Any) -> bool:
    return isinstance(errors, list) and bool(errors) and all(
        isinstance(e, dict) and isinstance(e.get("code"), int) and isinstance(e.get("message"), str) for e in errors)


def check(client: httpx.Client, product: str, request: dict[str, Any]) -> None:
    """Send one request; fail on a 5xx, a dropped connection, an error outside the product's shape, or a refused
    write that changed what the product stores."""
    target: Target = request.pop("target")
    write = target.method in WRITES
    before = snapshot(client, product) if write else None
    try:
        response = client.request(**request)
    except httpx.TransportError as exc:
        pytest.fail(f"{target.method} {request['url'][:200]}: the connection failed: {exc!r}")
    where = f"{target.method} {request['url'][:200]} -> {response.status_code} {response.text[:300]}"
    if product in ("gateway", "openai", "workers-ai") and "cf-aig-log-id" in response.headers:
        return  # the provider's own answer (the fake provider fails on junk too), passed through untouched
    assert response.status_code < 500, where
    if response.status_code >= 400:
        problem = _error_shape(product, response)
        assert problem is None, f"{problem}: {where}"
        if write and product in SNAPSHOTS:
            assert snapshot(client, product) == before, f"a rejected write changed stored state: {where}"


def _plain(target: Target, seeded_ids: dict[str, str]) -> dict[str, Any]:
    """The route's valid example, for a route the drawn examples happened to miss."""
    last = PARAM.findall(target.path)[-1:]

    def value(match) -> str:
        name = match.group(1)
        seeded = seeded_ids.get(name, PARAMS[name][0])
        if target.method == "DELETE" and [name] == last:  # never delete what the other tests use
            return path_segment(next(c for c in PARAMS[name] if c != seeded))
        return path_segment(seeded)

    url = PARAM.sub(value, target.path)
    request: dict[str, Any] = {"target": target, "method": target.method, "url": url,
                               "headers": {"content-type": "application/json"}}
    if target.body is not None and target.method != "DELETE":
        text = dumps(target.body)
        request["content"] = encoded(text + "\n" + text if target.ndjson else text)
    return request


@pytest.mark.parametrize("product", sorted(EXAMPLES))
def test_hostile_requests(fuzz_server, product):
    server, seeded_ids = fuzz_server
    log_start = server.log.stat().st_size
    chosen = [t for t in TARGETS if t.product == product]
    assert chosen, f"no routes found for {product}"
    reached: set[Target] = set()
    with httpx.Client(base_url=server.url, timeout=60, headers={"authorization": "Bearer dev-token"}) as client:

        @settings(max_examples=int(EXAMPLES[product] * SCALE), derandomize=SEED is None, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
        @given(requests(chosen, seeded_ids))
        def one(request: dict[str, Any]) -> None:
            reached.add(request["target"])
            check(client, product, request)

        if SEED is not None:
            one = seed(int(SEED))(one)
        one()
        for target in chosen:  # every route at least once
            if target not in reached:
                check(client, product, _plain(target, seeded_ids))
    with open(server.log, "rb") as log:  # background work too (log writers, indexing) must not have crashed
        log.seek(log_start)
        text = log.read().decode("utf-8", "replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]

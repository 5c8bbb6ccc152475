"""`POST /ai/run/{model}` is served by kumo.ai.front before FastAPI's router when the answer is the JSON envelope.
Every request here goes to two apps on one Platform: kumo as built (the front in place) and the same app without
the front (ai/routes.py answers everything), and must get the same status, headers (but the ids) and body, errors
included. A spy behind the front tells which requests it served and which it passed on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple

import httpx
import pytest

from kumo.ai.front import AiFront
from kumo.app import create_app
from kumo.config import Settings
from tests.conftest import app_in_thread
from tests.custom_models.conftest import FEATURES, churn_data, forest, model_files  # noqa: F401  (fixtures)
from tests.r2.conftest import s3_client

ADMIN = "front-admin-token-0123456789"
TEAM = "front-team-token-0123456789"  # limited to the account "team1"
ACCOUNT = "team1"
EMBED = "@cf/baai/bge-small-en-v1.5"
ADMIN_AUTH = {"authorization": f"Bearer {ADMIN}"}
IDS = {"cf-ray", "cf-ai-req-id", "date", "server"}  # differ between any two requests


class Apps(NamedTuple):
    front: str  # kumo as built
    routed: str  # the same Platform, the app without AiFront
    passed_on: list[str]  # paths that reached the router behind the front, in the app with it


def _inner_of_front(app) -> Any:
    layer = app.middleware_stack
    while not isinstance(layer, AiFront):
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
def apps(tmp_path_factory, model_files) -> Iterator[Apps]:  # noqa: F811
    settings = Settings(data_dir=tmp_path_factory.mktemp("ai-front"), api_tokens=f"{ADMIN},{TEAM}:{ACCOUNT}")
    front_app = create_app(settings)
    routed_app = create_app(settings, front_app.state.platform)
    routed_app.user_middleware = [m for m in routed_app.user_middleware if m.cls is not AiFront]
    passed_on: list[str] = []
    with ExitStack() as stack:
        front_url = stack.enter_context(app_in_thread(front_app))
        routed_url = stack.enter_context(app_in_thread(routed_app, lifespan="off"))
        front = _inner_of_front(front_app)
        router = front.app

        async def spy(scope, receive, send):
            passed_on.append(scope["path"])
            await router(scope, receive, send)
        front.app = spy
        _register_custom_model(front_url, model_files)
        yield Apps(front_url, routed_url, passed_on)


def _register_custom_model(url: str, files) -> None:
    s3 = s3_client(url, ACCOUNT, ADMIN)
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="churn/v1/model.onnx", Body=(files / "model.onnx").read_bytes())
    made = httpx.post(f"{url}/client/v4/accounts/{ACCOUNT}/ai/custom-models/churn/versions", headers=ADMIN_AUTH,
                      json={"version": "v1", "source": "r2://models/churn/v1/model.onnx"}, timeout=60)
    assert made.status_code == 201, made.text


class Case(NamedTuple):
    path: str  # after /client/v4/accounts/
    body: bytes | None
    headers: list[tuple[str, str]]
    front: bool  # served by the front (else passed on to the route)
    status: int


JSON = [("content-type", "application/json"), ("authorization", f"Bearer {ADMIN}")]
NO_TYPE = [("authorization", f"Bearer {ADMIN}")]
RUN = f"{ACCOUNT}/ai/run/"


def _j(value: Any) -> bytes:
    return json.dumps(value).encode()


ROW = {"tenure_months": 3.0, "monthly_charges": 95.0, "support_calls": 6.0, "age": 30.0}
CASES: dict[str, Case] = {
    # answers
    "one sentence": Case(RUN + EMBED, _j({"text": "The nightly backup job finished."}), JSON, True, 200),
    "sentences": Case(RUN + EMBED, _j({"text": ["a short one", "and a second, longer sentence here"]}), JSON,
                      True, 200),
    "cls pooling": Case(RUN + EMBED, _j({"text": "pooled on the first token", "pooling": "cls"}), JSON, True, 200),
    "no content type": Case(RUN + EMBED, _j({"text": "json without a content type"}), NO_TYPE, True, 200),
    "text/plain json": Case(RUN + EMBED, _j({"text": "x"}), [*NO_TYPE, ("content-type", "text/plain")], True, 200),
    "options pass": Case(RUN + EMBED, _j({"text": "x", "options": {}}), JSON, True, 200),
    "email and key": Case(RUN + EMBED, _j({"text": "x"}), [("x-auth-email", "me@example.com"),
                                                          ("x-auth-key", ADMIN)], True, 200),
    "team token": Case(RUN + EMBED, _j({"text": "x"}), [("authorization", f"Bearer {TEAM}")], True, 200),
    "first of two tokens": Case(RUN + EMBED, _j({"text": "x"}), [("authorization", f"Bearer {ADMIN}"),
                                                                ("authorization", "Bearer wrong")], True, 200),
    "trailing slash": Case(RUN + EMBED + "/", _j({"text": "x"}), JSON, True, 200),
    "custom row": Case(RUN + "@custom/churn", _j({"features": list(ROW.values())}), JSON, True, 200),
    "custom many": Case(RUN + "@custom/churn", _j({"instances": [list(ROW.values())] * 3}), JSON, True, 200),
    "custom caller key": Case(RUN + "@custom/churn", _j({"features": list(ROW.values())}),
                              [*JSON, ("x-kumo-caller-key", "u1")],
                              True, 200),
    # body refusals
    "empty body": Case(RUN + EMBED, b"", JSON, True, 400),
    "blank body": Case(RUN + EMBED, b"  \n ", JSON, True, 400),
    "bad json": Case(RUN + EMBED, b"{not json", JSON, True, 400),
    "not utf-8": Case(RUN + EMBED, b"\xff\xfe{", JSON, True, 400),
    "lone surrogate": Case(RUN + EMBED, b'{"text": "\\ud83d"}', JSON, True, 400),
    "number too big": Case(RUN + EMBED, b'{"text": "x", "n": 1e400}', JSON, True, 400),
    "too deep": Case(RUN + EMBED, b'{"text": "x", "d": ' + b"[" * 200 + b"]" * 200 + b"}", JSON, True, 400),
    "array body": Case(RUN + EMBED, b"[1, 2]", JSON, True, 400),
    "string body": Case(RUN + EMBED, b'"text"', JSON, True, 400),
    "null body": Case(RUN + EMBED, b"null", JSON, True, 400),
    "schema": Case(RUN + EMBED, _j({"text": 5}), JSON, True, 400),
    "missing text": Case(RUN + EMBED, _j({"prompt": "x"}), JSON, True, 400),
    "unknown model": Case(RUN + "@cf/nobody/nothing", _j({"text": "x"}), JSON, True, 400),
    "weights absent": Case(RUN + "@cf/baai/bge-base-en-v1.5", _j({"text": "x"}), JSON, True, 400),
    "model with spaces": Case(RUN + "@cf/ spaced model", _j({"text": "x"}), JSON, True, 400),
    "dots in model": Case(RUN + "@cf/%2E%2E/%2E%2E/etc/passwd", _j({"text": "x"}), JSON, True, 400),
    "long model": Case(RUN + "@cf/" + "m" * 5000, _j({"text": "x"}), JSON, True, 400),
    "unicode model": Case(RUN + "@cf/mod%C3%A8le", _j({"text": "x"}), JSON, True, 400),
    "custom unknown": Case(RUN + "@custom/nope", _j({"features": ROW}), JSON, True, 404),
    "custom named features": Case(RUN + "@custom/churn", _j({"features": ROW}), JSON, True, 400),  # ONNX: no names
    "custom short row": Case(RUN + "@custom/churn", _j({"features": [1.0, 2.0]}), JSON, True, 400),
    "custom not an object": Case(RUN + "@custom/churn", b"[1]", JSON, True, 400),
    # credentials
    "no credentials": Case(RUN + EMBED, _j({"text": "x"}), [], True, 401),
    "wrong token": Case(RUN + EMBED, _j({"text": "x"}), [("authorization", "Bearer wrong")], True, 401),
    "basic auth": Case(RUN + EMBED, _j({"text": "x"}), [("authorization", "Basic Zm9vOmJhcg==")], True, 401),
    "key without email": Case(RUN + EMBED, _j({"text": "x"}), [("x-auth-key", ADMIN)], True, 401),
    "other account": Case(f"other/ai/run/{EMBED}", _j({"text": "x"}), [("authorization", f"Bearer {TEAM}")],
                          True, 403),
    "wrong token, bad body": Case(RUN + EMBED, b"{not json", [("authorization", "Bearer wrong")], True, 401),
    # passed on to the route
    "stream": Case(RUN + EMBED, _j({"text": "x", "stream": True}), JSON, False, 400),
    "raw bytes": Case(RUN + EMBED, b"\x00\x01binary", NO_TYPE, False, 400),
    "octet-stream json": Case(RUN + EMBED, _j({"text": "x"}), [*NO_TYPE, ("content-type", "application/octet-stream")],
                              False, 400),
    "bad json, no type": Case(RUN + EMBED, b"{not json", NO_TYPE, False, 400),
    "queued, unknown id": Case(RUN + EMBED + "?queueRequest=true", _j({"request_id": "nope"}), JSON, False, 404),
    "other query": Case(RUN + EMBED + "?x=1", _j({"text": "x"}), JSON, False, 200),
    "unified run": Case(f"{ACCOUNT}/ai/run", _j({"model": EMBED, "input": {"text": "x"}}), JSON, False, 200),
    "no model": Case(f"{ACCOUNT}/ai/run/", _j({"text": "x"}), JSON, False, 400),
    "empty account": Case(f"/ai/run/{EMBED}", _j({"text": "x"}), JSON, False, 404),
    "control char in model": Case(RUN + "@cf/a%01b", _j({"text": "x"}), JSON, False, 400),
    "nul in account": Case(f"te%00am/ai/run/{EMBED}", _j({"text": "x"}), JSON, False, 200),  # as the route does
    "invalid utf-8 in path": Case(RUN + "@cf/%ED%A0%80", _j({"text": "x"}), JSON, True, 400),  # U+FFFD by then
    "tab in account": Case(f"te%09am/ai/run/{EMBED}", _j({"text": "x"}), JSON, False, 200),
}


def _send(url: str, case: Case, method: str = "POST") -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        request = client.build_request(method, f"{url}/client/v4/accounts/{case.path}", content=case.body,
                                       headers=case.headers)
        return client.send(request)


def _same(front: httpx.Response, routed: httpx.Response) -> None:
    assert front.status_code == routed.status_code, (front.text, routed.text)
    strip = lambda r: sorted((k, v) for k, v in r.headers.multi_items() if k not in IDS)  # noqa: E731
    assert strip(front) == strip(routed)
    assert front.content == routed.content
    for r in (front, routed):
        assert r.headers["cf-ray"]
        if r.status_code == 200 and "/ai/run/" in str(r.url) and "?" not in str(r.url):
            assert r.headers["cf-ai-req-id"]


@pytest.mark.parametrize("name", CASES)
def test_the_front_answers_as_the_route_does(apps, name):
    case = CASES[name]
    before = len(apps.passed_on)
    front, routed = _send(apps.front, case), _send(apps.routed, case)
    assert front.status_code == case.status, front.text
    _same(front, routed)
    if front.headers.get("content-type") == "application/json":
        body = front.json()
        assert set(body) >= {"result", "success", "errors", "messages"}
        assert body["success"] is (case.status == 200)
    assert (len(apps.passed_on) == before) is case.front, apps.passed_on[before:]


def test_embeddings_answer_as_cloudflare_documents(apps):
    front = _send(apps.front, CASES["sentences"])
    result = front.json()["result"]
    assert result["shape"] == [2, 384] and result["pooling"] == "mean" and len(result["data"][1]) == 384
    assert front.headers["x-kumo-model"] == "@kumo/all-minilm-l6-v2-int8"  # the stand-in that ran
    assert front.headers["content-length"] == str(len(front.content))


def test_custom_model_headers_name_the_version(apps):
    front = _send(apps.front, CASES["custom row"])
    assert front.headers["x-kumo-model"] == "@custom/churn" and front.headers["x-kumo-model-version"] == "v1"
    assert front.json()["result"]["prediction"] in ("churn", "stay")


def test_other_methods_are_the_routers(apps):
    before = len(apps.passed_on)
    for method in ("GET", "PUT", "DELETE"):
        front = _send(apps.front, CASES["one sentence"], method)
        _same(front, _send(apps.routed, CASES["one sentence"], method))
        assert front.status_code == 405
    assert len(apps.passed_on) == before + 3


def test_the_cloudflare_sdk_through_the_front(apps):
    from cloudflare import Cloudflare

    before = len(apps.passed_on)
    answers = []
    for url in (apps.front, apps.routed):
        with Cloudflare(api_token=ADMIN, base_url=url + "/client/v4", max_retries=0) as cf:
            answers.append(cf.ai.run(EMBED, account_id=ACCOUNT, text=["hello", "world"]))
            with pytest.raises(Exception) as refused:
                cf.ai.run("@cf/nobody/nothing", account_id=ACCOUNT, text="x")
            assert getattr(refused.value, "status_code", None) == 400
    assert answers[0] == answers[1] and answers[0]["shape"] == [2, 384]
    assert len(apps.passed_on) == before


def test_the_access_log_and_metrics_name_the_route(apps):
    assert _send(apps.front, CASES["one sentence"]).status_code == 200
    metrics = httpx.get(apps.front + "/metrics", headers=ADMIN_AUTH).text
    line = next(l for l in metrics.splitlines() if l.startswith("kumo_http_requests_total")
                and 'route="/client/v4/accounts/{account_id}/ai/run/{model:path}"' in l and 'status="200"' in l)
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_an_image_answer_is_sent_as_its_bytes():
    """A text-to-image model that answers PNG (none ships with kumo: a fake service stands in for the model)."""
    import asyncio
    from types import SimpleNamespace

    from kumo.ai.runtimes.base import RunOutput
    from kumo.ai.service import RunResult

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

    class Painter:
        async def run(self, model, inputs):
            assert model == "@cf/stabilityai/stable-diffusion-xl-base-1.0" and inputs == {"prompt": "a cat"}
            return RunResult(RunOutput(png, content_type="image/png"), model)

    async def router(scope, receive, send):
        raise AssertionError("the front answers this itself")

    platform = SimpleNamespace(settings=SimpleNamespace(api_tokens=[]), ai=Painter(), custom_models=None)
    front = AiFront(router, platform)  # type: ignore[arg-type]
    sent: list[dict] = []
    body = [{"type": "http.request", "body": b'{"prompt": "a cat"}', "more_body": False}]

    async def receive():
        return body.pop()

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "query_string": b"",
             "path": "/client/v4/accounts/a/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0",
             "headers": [(b"authorization", b"Bearer any"), (b"content-type", b"application/json")]}
    asyncio.run(front(scope, receive, send))
    start, end = sent
    headers = dict(start["headers"])
    assert start["status"] == 200 and headers[b"content-type"] == b"image/png"
    assert headers[b"content-length"] == str(len(png)).encode() and headers[b"cf-ai-req-id"]
    assert headers[b"x-kumo-model"] == b"@cf/stabilityai/stable-diffusion-xl-base-1.0" and end["body"] == png

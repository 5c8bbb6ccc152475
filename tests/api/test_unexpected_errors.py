"""An exception no handler expected: answered 500 in the product's own error shape, and the keep-alive
connection stays usable (uvicorn closes it when the exception escapes the app, and the client's next request
on it then fails with "connection reset"). One httpx client, two requests, the same socket."""

from __future__ import annotations

import logging
import httpx
import pytest

from kumo.app import create_app
from kumo.config import Settings
from tests.conftest import app_in_thread


class Boom(Exception):
    pass


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("unexpected")))

    async def boom():
        raise Boom("a bug")

    for path in ("/client/v4/accounts/{account_id}/vectorize/v2/boom", "/client/v4/accounts/{account_id}/ai/v1/boom"):
        app.add_api_route(path, boom, methods=["GET"])
    with app_in_thread(app, timeout_keep_alive=30) as url:
        app.state.platform.gateway_pipeline = None  # the gateway's data plane now fails inside, unexpectedly
        yield url


def _socket_of(response: httpx.Response) -> tuple:
    return response.extensions["network_stream"].get_extra_info("socket").getsockname()


@pytest.mark.parametrize("path, shape", [
    ("/client/v4/accounts/a1/vectorize/v2/boom", "envelope"),
    ("/client/v4/accounts/a1/ai/v1/boom", "openai"),
    ("/v1/a1/gw/openai/chat/completions", "gateway"),
])
def test_a_500_in_the_product_shape_keeps_the_connection(app_url, path, shape, caplog):
    caplog.set_level(logging.ERROR, logger="kumo")
    with httpx.Client(base_url=app_url, headers={"authorization": "Bearer t"}, timeout=30) as client:
        first = client.request("GET" if shape != "gateway" else "POST", path, json={})
        assert first.status_code == 500, first.text
        assert first.headers.get("connection", "").lower() != "close"
        body = first.json()
        if shape == "envelope":
            assert body["success"] is False and body["errors"][0]["code"] == 10002
        elif shape == "openai":
            assert body["error"]["type"] == "api_error" and "Internal error" in body["error"]["message"]
        else:
            assert body["name"] == "AiGatewayError" and body["httpCode"] == 500
        where = _socket_of(first)
        second = client.get("/healthz")
        assert second.status_code == 200
        assert _socket_of(second) == where, "the 500 closed the connection: the client had to open another"
    logged = [r for r in caplog.records if r.name == "kumo" and r.exc_info]
    assert len(logged) == 1 and "unhandled error on" in logged[0].getMessage()  # once, with its traceback

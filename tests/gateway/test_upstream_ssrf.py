"""A caller cannot make kumo connect anywhere but the provider: the values a path puts into a provider's URL
template (Azure's resource and deployment, Bedrock's service and region, Vertex's region and project, the account
in Workers AI's) are checked after decoding, and the provider path cannot climb out of the base path. Every case
is a 400 in the gateway's shape, and a listener the hostile URLs point at is never reached."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from tests.conftest import Server


class Trap:
    """A TCP listener that counts connections (TLS or not: any connect is a failure)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def trap():
    t = Trap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def ssrf_server(tmp_path_factory, trap):
    """Azure, Bedrock and Vertex keep their real URL templates; OpenAI and Workers AI point at the trap, so a
    path that climbs out of their base path would reach it."""
    env = {"KUMO_UPSTREAM_OPENAI": f"http://127.0.0.1:{trap.port}/base",
           "KUMO_UPSTREAM_WORKERS_AI": f"http://127.0.0.1:{trap.port}/client/v4/accounts/{{account}}/ai"}
    srv = Server(tmp_path_factory.mktemp("ssrf") / "data", env=env).start()
    yield srv
    srv.stop()


HOSTILE = [
    # Azure: https://{resource}.openai.azure.com/openai/deployments/{deployment}
    ("azure-openai", "127.0.0.1:{port}%23/dep/chat/completions"),
    ("azure-openai", "127.0.0.1:{port}%3F/dep/chat/completions"),
    ("azure-openai", "x@127.0.0.1:{port}%23/dep/chat/completions"),
    ("azure-openai", "127.0.0.1:{port}%2F/dep/chat/completions"),
    ("azure-openai", "res/..%2F..%2F/chat/completions"),
    ("azure-openai", "res/dep%23/chat/completions"),
    ("azure-openai", "res/dep%3Fx=1/chat/completions"),
    # Bedrock: https://{service}.{region}.amazonaws.com
    ("aws-bedrock", "127.0.0.1:{port}%23/us-east-1/model/m/invoke"),
    ("aws-bedrock", "bedrock-runtime/127.0.0.1:{port}%23/model/m/invoke"),
    ("aws-bedrock", "bedrock-runtime/x@127.0.0.1:{port}%3F/model/m/invoke"),
    ("aws-bedrock", "bedrock-runtime/us-east-1:{port}/model/m/invoke"),
    # Vertex: https://{region}-aiplatform.googleapis.com, region and project from the path
    ("google-vertex-ai", "v1/projects/my-project/locations/127.0.0.1:{port}%23/publishers/google/models/g:generateContent"),
    ("google-vertex-ai", "v1/projects/my-project/locations/x@127.0.0.1:{port}%3F/publishers/google/models/g:generateContent"),
    ("google-vertex-ai", "v1/projects/my-project/locations/127.0.0.1:{port}%2F/publishers/google/models/g:generateContent"),
    ("google-vertex-ai", "v1/projects/a%3F/locations/us-central1/publishers/google/models/g:generateContent"),
    # a provider path climbing out of the base path (`/base` on the trap)
    ("openai", "..%2F..%2Fadmin"),
    ("openai", "v1/%2E%2E/%2E%2E/admin"),
]


@pytest.mark.parametrize("provider, path", HOSTILE)
def test_hostile_template_values_never_leave_the_provider(ssrf_server, trap, provider, path):
    before = trap.connections
    url = f"{ssrf_server.url}/v1/acct-ssrf/default/{provider}/{path.format(port=trap.port)}"
    r = httpx.post(url, json={"model": "m", "messages": []}, headers={"authorization": "Bearer k"}, timeout=30)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["name"] == "AiGatewayError" and body["error"][0]["code"] == 2008 and body["success"] is False
    assert trap.connections == before


@pytest.mark.parametrize("account", ["%2E%2E", "x%23", "x%3Fy", "x@127.0.0.1:1"])
def test_account_pasted_into_an_upstream_url_is_checked(ssrf_server, trap, account):
    before = trap.connections
    r = httpx.post(f"{ssrf_server.url}/v1/{account}/default/workers-ai/@cf/meta/llama-3.1-8b-instruct",
                   json={"prompt": "hi"}, headers={"authorization": "Bearer k"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008, r.text
    assert trap.connections == before


def test_universal_and_compat_paths_are_checked_too(ssrf_server, trap):
    before = trap.connections
    base = f"{ssrf_server.url}/v1/acct-ssrf/default"
    step = {"provider": "azure-openai", "endpoint": f"127.0.0.1:{trap.port}#/dep/chat/completions",
            "headers": {"api-key": "k"}, "query": {"messages": []}}
    r = httpx.post(base, json=[step], timeout=30)
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008, r.text
    step = {"provider": "openai", "endpoint": "../../admin", "headers": {"authorization": "Bearer k"}, "query": {}}
    r = httpx.post(base, json=[step], timeout=30)
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008, r.text
    r = httpx.post(f"{base}/compat/chat/completions", headers={"authorization": "Bearer k"}, timeout=30,
                   json={"model": "google-ai-studio/../../../x", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008, r.text
    assert trap.connections == before


@pytest.mark.parametrize("provider, path, url", [
    ("azure-openai", "my-res/gpt-4o.prod_1/chat/completions",
     "https://my-res.openai.azure.com/openai/deployments/gpt-4o.prod_1/chat/completions"),
    ("aws-bedrock", "bedrock-runtime/us-gov-west-1/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke",
     "https://bedrock-runtime.us-gov-west-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"),
    ("google-vertex-ai", "v1/projects/my-project/locations/europe-west4/publishers/google/models/g:generateContent",
     "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google/"
     "models/g:generateContent"),
    ("google-vertex-ai", "v1/projects/123456789012/locations/global/publishers/google/models/g:generateContent",
     "https://aiplatform.googleapis.com/v1/projects/123456789012/locations/global/publishers/google/models/"
     "g:generateContent"),
    ("workers-ai", "@cf/meta/llama-3.1-8b-instruct",
     "kumo://self/client/v4/accounts/acct-1/ai/run/@cf/meta/llama-3.1-8b-instruct"),
    ("openai", "chat/completions%23x", "https://api.openai.com/v1/chat/completions%2523x"),
    ("openai", "files/a#b?c", "https://api.openai.com/v1/files/a%23b%3Fc"),
])
def test_valid_paths_still_build_the_providers_urls(provider, path, url):
    from kumo.gateway.providers import PROVIDERS
    from kumo.gateway.upstream import upstream_url

    assert upstream_url(PROVIDERS[provider], path, "acct-1") == url


def test_operator_templates_get_the_same_checks():
    from kumo.gateway.errors import GatewayError
    from kumo.gateway.providers import PROVIDERS
    from kumo.gateway.upstream import upstream_url

    azure = PROVIDERS["azure-openai"]
    template = "http://127.0.0.1:9000/azure/{resource}/{deployment}"
    assert upstream_url(azure, "res/dep/chat/completions", "a", template) == \
        "http://127.0.0.1:9000/azure/res/dep/chat/completions"
    with pytest.raises(GatewayError):
        upstream_url(azure, "res/../chat/completions", "a", template)
    with pytest.raises(GatewayError):  # a name the provider does not take from the path
        upstream_url(azure, "res/dep/chat/completions", "a", "http://{host}/x")

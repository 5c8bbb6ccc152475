"""Provider endpoints `/v1/{account}/{gateway}/{provider}/...`: bodies and credentials pass through unchanged,
answers come back unchanged plus `cf-aig-*` headers, usage and cost land in the logs."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import make_gateway


def _logs(admin, gateway="gw", **params):
    return admin.get(f"/gateways/{gateway}/logs", params=params).json()


def test_openai_sdk_plain_and_stream(gw_server, fake, admin, acct):
    make_gateway(admin)
    client = openai.OpenAI(api_key="sk-test-secret-openai", base_url=f"{gw_server.url}/v1/{acct}/gw/openai/v1",
                           max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}])
    done = raw.parse()
    assert done.choices[0].message.content == "Hello from the fake provider."
    assert raw.headers["cf-aig-log-id"] and "cf-aig-cache-status" not in raw.headers  # no cache configured
    seen = fake.requests[-1]
    assert seen["path"] == "/v1/chat/completions" and seen["headers"]["authorization"] == "Bearer sk-test-secret-openai"
    assert seen["body"]["messages"] == [{"role": "user", "content": "hi there"}]
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake provider."
    logs = _logs(admin)["result"]
    assert len(logs) == 2
    streamed, plain = logs  # newest first
    assert (plain["tokens_in"], plain["tokens_out"], plain["status_code"], plain["success"]) == (9, 6, 200, True)
    assert (streamed["tokens_in"], streamed["tokens_out"]) == (11, 6)  # read from the stream's usage chunk
    # gpt-4o-mini: $0.15 in, $0.60 out per M; 4 of the 9 input tokens were cached at $0.075
    assert plain["cost"] == pytest.approx((5 * 0.15 + 4 * 0.075 + 6 * 0.60) / 1e6)
    assert plain["model"] == "gpt-4o-mini" and plain["provider"] == "openai"


def test_anthropic_sdk(gw_server, fake, admin, acct):
    make_gateway(admin)
    client = anthropic.Anthropic(api_key="sk-ant-secret", base_url=f"{gw_server.url}/v1/{acct}/gw/anthropic",
                                 max_retries=0)
    message = client.messages.create(model="claude-3-5-haiku-latest", max_tokens=32,
                                     messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from the fake provider."
    seen = fake.requests[-1]["headers"]  # anthropic 2.x sends the key as a bearer token, 0.x as x-api-key
    assert seen.get("x-api-key") == "sk-ant-secret" or seen.get("authorization") == "Bearer sk-ant-secret"
    with client.messages.stream(model="claude-3-5-haiku-latest", max_tokens=32,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
    assert text == "Hello from the fake provider."
    logs = _logs(admin)["result"]
    assert [(l["tokens_in"], l["tokens_out"]) for l in logs] == [(12, 6), (12, 6)]
    assert logs[0]["cost"] == pytest.approx((12 * 0.80 + 6 * 4.0) / 1e6)


@pytest.mark.parametrize(
    "provider, path, upstream_path",
    [
        ("azure-openai", "myres/mydeploy/chat/completions?api-version=2024-06-01", "/chat/completions"),
        ("aws-bedrock", "bedrock-runtime/us-east-1/model/anthropic.claude-3-haiku/invoke", "/model/anthropic.claude-3-haiku/invoke"),
        ("google-vertex-ai", "v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
         "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"),
        ("google-ai-studio", "v1beta/models/gemini-2.5-flash:generateContent", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("groq", "chat/completions", "/chat/completions"),
        ("mistral", "v1/chat/completions", "/v1/chat/completions"),
        ("deepseek", "chat/completions", "/chat/completions"),
        ("grok", "v1/chat/completions", "/v1/chat/completions"),
        ("cerebras", "chat/completions", "/chat/completions"),
        ("perplexity-ai", "chat/completions", "/chat/completions"),
        ("openrouter", "v1/chat/completions", "/v1/chat/completions"),
        ("cohere", "v1/chat", "/v1/chat"),
        ("huggingface", "org/model", "/org/model"),
        ("replicate", "predictions", "/predictions"),
    ],
)
def test_every_provider_path(gw_server, fake, admin, acct, provider, path, upstream_path):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/{provider}/{path}", json={"model": "m", "messages": []},
                   headers={"authorization": "Bearer k"})
    assert r.status_code == 200, r.text
    assert fake.requests[-1]["path"] == upstream_path
    if "?" in path:
        assert fake.requests[-1]["query"] == path.split("?", 1)[1]
    assert r.headers["cf-aig-log-id"]


def test_google_key_in_query_reaches_provider_not_logs(gw_server, fake, admin, acct):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent",
                   params={"key": "AIza-query-secret"}, json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert r.status_code == 200 and fake.requests[-1]["query"] == "key=AIza-query-secret"
    log = _logs(admin)["result"][0]
    assert log["model"] == "gemini-2.5-flash" and (log["tokens_in"], log["tokens_out"]) == (9, 6)
    assert "AIza" not in str(log)


def test_gateway_errors_have_cloudflares_shape(gw_server, admin, acct):
    r = httpx.post(f"{gw_server.url}/v1/{acct}/nope/openai/chat/completions", json={})
    body = r.json()
    assert r.status_code == 400 and body["error"][0]["code"] == 2001 and body["name"] == "AiGatewayError"
    assert body["errors"][0]["code"] == 2001 and "kumo gateway create nope" in body["error"][0]["message"]
    assert body["description"] == body["error"][0]["message"]  # what the Workers AI binding prints
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/not-a-provider/x", json={})
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2005


def test_default_gateway_exists_on_first_use(gw_server, acct):
    r = httpx.post(f"{gw_server.url}/v1/{acct}/default/openai/chat/completions", json={"model": "gpt-4o-mini"},
                   headers={"authorization": "Bearer k"})
    assert r.status_code == 200


def test_provider_errors_pass_through(gw_server, admin, acct):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions", json={"model": "x"},
                   headers={"x-fake": "400"})
    assert r.status_code == 400 and r.json() == {"error": {"message": "bad request from provider"}}
    log = _logs(admin)["result"][0]
    assert log["success"] is False and log["status_code"] == 400


def test_workers_ai_through_the_gateway(gw_server, admin, acct):
    make_gateway(admin)
    base = f"{gw_server.url}/v1/{acct}/gw/workers-ai"
    h = {"authorization": "Bearer cf-token"}
    r = httpx.post(f"{base}/@cf/meta/llama-3.1-8b-instruct", json={"prompt": "hi", "max_tokens": 5}, headers=h,
                   timeout=60)
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["result"]["response"]
    with httpx.stream("POST", f"{base}/@cf/meta/llama-3.1-8b-instruct", headers=h, timeout=60,
                      json={"prompt": "hi", "max_tokens": 5, "stream": True}) as s:
        lines = [line for line in s.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    oa = openai.OpenAI(api_key="cf-token", base_url=f"{base}/v1", max_retries=0)
    emb = oa.embeddings.create(model="@cf/baai/bge-small-en-v1.5", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384
    logs = _logs(admin)["result"]
    assert {l["provider"] for l in logs} == {"workers-ai"}
    gen = [l for l in logs if l["model"] == "@cf/meta/llama-3.1-8b-instruct"]
    assert gen and all(l["tokens_out"] and l["tokens_out"] <= 5 for l in gen) and gen[0]["cost"] > 0


def test_provider_path_too_short_is_a_gateway_400(gw_server, admin, acct):
    make_gateway(admin)
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/azure-openai/only-resource", json={})
    assert r.status_code == 400 and r.json()["error"][0]["code"] == 2008


def test_data_plane_routing_edges(gw_server, admin, acct):
    """The data plane is served before FastAPI's router (gateway/front.py): its edges answer as FastAPI's would."""
    make_gateway(admin)
    base = f"{gw_server.url}/v1/{acct}/gw"
    r = httpx.post(f"{base}/openai/chat/completions/", json={"model": "gpt-4o-mini"}, headers={"authorization": "Bearer k"})
    assert r.status_code == 200 and r.headers["cf-aig-log-id"]  # a trailing slash is the same path
    r = httpx.get(base)  # the universal endpoint is POST only
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == 7001
    r = httpx.request("OPTIONS", f"{base}/compat/chat/completions")
    assert r.status_code == 405
    for path in (f"/v1/{acct}", f"/v1/{acct}/gw/openai", "/v1/", "/v1//gw/openai/x"):
        r = httpx.post(gw_server.url + path, json={})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == 7003, path


def test_one_date_and_server_header(gw_server, fake, admin, acct):
    """The provider's own `date` and `server` are not relayed beside kumo's (an answer would carry two of each)."""
    make_gateway(admin, cache_ttl=300)
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "dates"}]}
    for _ in range(2):  # a miss, then the same answer from the cache
        r = httpx.post(url, json=body, headers={"authorization": "Bearer k"})
        assert r.status_code == 200
        assert len(r.headers.get_list("date")) == 1 and len(r.headers.get_list("server")) == 1, r.headers
    assert r.headers["cf-aig-cache-status"] == "HIT"
    with httpx.stream("POST", url, json={**body, "stream": True}, headers={"authorization": "Bearer k"}) as s:
        assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
        assert len(s.headers.get_list("date")) == 1 and len(s.headers.get_list("server")) == 1, s.headers
        s.read()


def test_bedrock_request_reaches_the_provider_as_boto3_signed_it(gw_server, fake, admin, acct):
    """boto3 signs (SigV4) the encoded path of the original Bedrock URL (`v1:0` as `v1%3A0`); sent through the
    gateway, the provider must get that path, those headers and that body, so the signature still verifies."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    make_gateway(admin)
    client = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="sigv4-secret",
                                   region_name="us-east-1").client("bedrock-runtime")
    signed: dict = {}

    class Captured(Exception):
        pass

    def capture(request, **_):
        signed.update(url=request.url, headers=dict(request.headers), body=request.body)
        raise Captured

    client.meta.events.register("before-send.bedrock-runtime.InvokeModel", capture)
    with pytest.raises(Captured):
        client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                            body=b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":8,"messages":[]}')
    path = httpx.URL(signed["url"]).raw_path.decode()
    assert path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in signed["headers"].items()}
    r = httpx.post(f"{gw_server.url}/v1/{acct}/gw/aws-bedrock/bedrock-runtime/us-east-1{path}", content=signed["body"],
                   headers=headers)
    assert r.status_code == 200, r.text
    seen = fake.requests[-1]
    assert seen["raw_path"] == path
    # verify the signature as AWS would, over what the provider received (its host is the one boto3 signed for)
    authorization = seen["headers"]["authorization"]
    scope = authorization.split("Credential=")[1].split(",")[0].split("/")
    names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    received = {name: seen["headers"][name] for name in names if name != "host"}
    request = AWSRequest(method="POST", url="https://bedrock-runtime.us-east-1.amazonaws.com" + seen["raw_path"],
                         data=signed["body"], headers={**received, "host": "bedrock-runtime.us-east-1.amazonaws.com"})
    request.context["timestamp"] = seen["headers"]["x-amz-date"]
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "sigv4-secret"), scope[3], scope[2])
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    assert authorization.endswith("Signature=" + expected)

"""Failover beyond a clean first failure (fault_server.py is every provider here): a first-token deadline and a stall
deadline per request, a stream that breaks mid-answer (cut, reset, stall, malformed event) continued on the next step
into the same response, a fallback that cannot continue ending the stream with an error event, a circuit per
provider and model that opens and heals (and one per caller credential that a bad key opens for itself only), and the decision log in the logs API. The client's view through the
openai SDK's own stream parser; the provider's view from what the fault server received."""

from __future__ import annotations

import socket
import time
import uuid

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.conftest import PROVIDER_SLUGS, Server
from tests.gateway.conftest import make_gateway
from tests.gateway.fault_server import ANSWER, FaultServer

LONG = "".join(ANSWER)
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "tell me"}], "stream": True}
COOLDOWN = 3.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fault():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kumo(tmp_path_factory, fault):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fault.url for slug in PROVIDER_SLUGS}
    env["KUMO_UPSTREAM_DEEPSEEK"] = f"http://127.0.0.1:{_closed_port()}"  # connection refused
    env.update(KUMO_GATEWAY_STREAM_IDLE_TIMEOUT="5", KUMO_GATEWAY_CIRCUIT_FAILURES="3",
               KUMO_GATEWAY_CIRCUIT_COOLDOWN=str(COOLDOWN))
    srv = Server(tmp_path_factory.mktemp("failover") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def gw(kumo):
    acct = "fo-" + uuid.uuid4().hex[:10]
    with httpx.Client(base_url=f"{kumo.url}/client/v4/accounts/{acct}/ai-gateway",
                      headers={"authorization": "Bearer admin"}, timeout=60) as admin:
        make_gateway(admin)
        yield f"{kumo.url}/v1/{acct}/gw", admin


def step(provider, fault, config=None, **query):
    s = {"provider": provider, "endpoint": "chat/completions",
         "headers": {"authorization": "Bearer k", "x-fault": fault}, "query": {**CHAT, **query}}
    return {**s, "config": config} if config else s


def sdk(url, **headers):
    return openai.OpenAI(api_key="k", base_url=url, max_retries=0, default_headers=headers, timeout=30)


def universal_stream(url, steps, **headers):
    """The universal endpoint read by the openai SDK's own stream parser: (text, chunks, raw response)."""
    raw = sdk(url, **headers).post("", body=steps, cast_to=ChatCompletionChunk, stream=True,
                                   stream_cls=openai.Stream[ChatCompletionChunk])
    chunks = list(raw)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks, raw.response


def logs(admin, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the log writer is asynchronous
        rows = admin.get("/gateways/gw/logs", params={"order_by_direction": "asc", "per_page": 50}).json()["result"]
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} log rows")


@pytest.mark.parametrize("broken, tokens", [("cut-after", 40), ("reset-after", 40), ("stall-after", 20),
                                            ("malformed-after", 20)])
def test_a_stream_broken_mid_answer_is_continued_on_the_next_step(gw, fault, broken, tokens):
    url, admin = gw
    before = fault.seen[f"{broken}:{tokens}"], fault.seen["continue"]
    started = time.monotonic()
    text, chunks, response = universal_stream(
        url, [step("openai", f"{broken}:{tokens}", {"maxAttempts": 3}), step("groq", "continue")],
        **{"cf-aig-stream-idle-timeout": "400"})
    assert text == LONG  # one complete answer: nothing lost, nothing repeated
    assert chunks[-1].choices[0].finish_reason == "stop" and response.headers["cf-aig-step"] == "0"
    assert "{not json" not in "".join(c.model_dump_json() for c in chunks)
    assert time.monotonic() - started < 4
    # the provider's view: one request to the broken one (no retry of a stream that had begun), and the fallback
    # asked to continue exactly what the client had
    assert (fault.seen[f"{broken}:{tokens}"], fault.seen["continue"]) == (before[0] + 1, before[1] + 1)
    assert fault.continued[-1] == "".join(ANSWER[:tokens])
    first, second = logs(admin, 2)
    assert (first["step"], first["success"], second["step"], second["success"]) == (0, False, 1, True)
    decisions = admin.get(f"/gateways/gw/logs/{second['id']}").json()["result"]["decisions"]
    assert [(s["step"], s["result"]) for s in decisions["steps"]] == [(0, "failed"), (1, "answered")]
    assert "continue" in decisions["steps"][0]["reason"] and decisions["client"] == "the rest of a continued answer"


def test_a_fallback_that_rejects_the_prefill_ends_the_stream_with_an_error(gw, fault):
    url, admin = gw
    received = []
    with pytest.raises(openai.APIError) as error:
        raw = sdk(url).post("", body=[step("openai", "cut-after:40"), step("groq", "reject-prefill")],
                            cast_to=ChatCompletionChunk, stream=True, stream_cls=openai.Stream[ChatCompletionChunk])
        for chunk in raw:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received) == "".join(ANSWER[:40])  # what it had, then an error: never a clean end
    assert "could not be continued" in str(error.value) and "prefill is not supported" in str(error.value)
    rows = logs(admin, 2)
    assert [r["success"] for r in rows] == [False, False]
    decisions = admin.get(f"/gateways/gw/logs/{rows[1]['id']}").json()["result"]["decisions"]
    assert decisions["client"].startswith("an error event")
    # the raw stream: an error event last, no [DONE]
    with httpx.stream("POST", url, json=[step("openai", "cut-after:40"), step("groq", "reject-prefill")], timeout=30) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-2] == "event: error" and "data: [DONE]" not in lines


def test_a_client_that_leaves_a_continued_answer_stops_the_fallback(gw, fault):
    url, _ = gw
    with httpx.stream("POST", url, json=[step("openai", "cut-after:10"), step("groq", "continue:slow")],
                      timeout=30) as r:
        read = 0
        for line in r.iter_lines():
            read += line.startswith("data: {")
            if read >= 20:  # ten tokens of the continuation
                break
    left = time.monotonic()
    while fault.left["continue:slow"] < 1 and time.monotonic() - left < 3:  # its whole answer takes ~4 s
        time.sleep(0.05)
    assert fault.left["continue:slow"] == 1 and time.monotonic() - left < 2


def test_a_step_that_cannot_continue_is_passed_over(gw, fault):
    """A Google step cannot continue an OpenAI answer (another format, no prefill): the one after it does."""
    url, admin = gw
    google = {"provider": "google-ai-studio", "endpoint": "v1beta/models/gemini-2.0-flash:streamGenerateContent",
              "headers": {"x-goog-api-key": "k"}, "query": {"contents": []}}
    text, _, _ = universal_stream(url, [step("openai", "cut-after:10"), google, step("groq", "continue")])
    assert text == LONG
    decisions = logs(admin, 2)[1]["id"]
    steps = admin.get(f"/gateways/gw/logs/{decisions}").json()["result"]["decisions"]["steps"]
    assert [(s["step"], s["result"]) for s in steps] == [(0, "failed"), (1, "not continued"), (2, "answered")]


def test_a_first_token_that_never_comes_fails_over_in_time(gw, fault):
    url, admin = gw
    for how in ("config", "header"):
        started = time.monotonic()
        first = step("openai", "first-token-never", {"firstTokenTimeout": 500} if how == "config" else None)
        headers = {"cf-aig-first-token-timeout": "500"} if how == "header" else {}
        text, _, response = universal_stream(url, [first, step("groq", "ok-stream")], **headers)
        assert text == LONG and response.headers["cf-aig-step"] == "1"
        assert time.monotonic() - started < 3  # not the 5 s stall deadline
    rows = logs(admin, 4)
    assert "first-token deadline" in admin.get(f"/gateways/gw/logs/{rows[2]['id']}").json()["result"][
        "decisions"]["steps"][0]["reason"]


def test_refused_and_silent_providers_fall_over(gw, fault):
    url, _ = gw
    text, _, response = universal_stream(url, [step("deepseek", "ok-stream"), step("groq", "ok-stream")])
    assert text == LONG and response.headers["cf-aig-step"] == "1"  # connection refused
    started = time.monotonic()
    text, _, response = universal_stream(url, [step("openai", "stall", {"requestTimeout": 400}),
                                               step("groq", "ok-stream")])
    assert text == LONG and response.headers["cf-aig-step"] == "1" and time.monotonic() - started < 3


def test_a_circuit_opens_skips_the_provider_and_heals(gw, fault):
    url, admin = gw
    key = uuid.uuid4().hex
    outage = f"outage:4:{key}"
    steps = [step("openai", outage, stream=False), step("groq", "ok-stream", stream=False)]
    for _ in range(3):  # three failures in a row: the circuit opens
        r = httpx.post(url, json=steps, timeout=30)
        assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"
    r = httpx.post(url, json=steps, timeout=30)
    assert r.headers["cf-aig-step"] == "1" and fault.seen[outage] == 3  # skipped: the provider saw nothing
    rows = logs(admin, 7)
    skipped = admin.get(f"/gateways/gw/logs/{rows[-1]['id']}").json()["result"]["decisions"]["steps"][0]
    assert skipped["result"] == "skipped" and "circuit is open" in skipped["reason"]
    # the last step is tried whatever its circuit says (and fails: the outage is 4 requests long)
    r = httpx.post(url, json=steps[:1], timeout=30)
    assert r.status_code == 503 and fault.seen[outage] == 4
    r = httpx.post(url, json=steps, timeout=30)
    assert r.headers["cf-aig-step"] == "1" and fault.seen[outage] == 4  # still open
    other = [keyed(steps[0], "another-key"), steps[1]]
    r = httpx.post(url, json=other, timeout=30)  # the provider's circuit: open for every caller's key
    assert r.headers["cf-aig-step"] == "1" and fault.seen[outage] == 4
    time.sleep(COOLDOWN + 0.2)  # half-open: one request probes it (healed now), and the circuit closes
    r = httpx.post(url, json=steps, timeout=30)
    assert r.headers["cf-aig-step"] == "0" and fault.seen[outage] == 5


def keyed(s, key):
    return {**s, "headers": {**s["headers"], "authorization": f"Bearer {key}"}}


def test_a_bad_caller_key_opens_its_own_circuit_only(gw, fault):
    """401s for one caller's key open that key's circuit: its next request skips the step, while another caller's
    key still reaches the same provider and model."""
    url, admin = gw
    bad = uuid.uuid4().hex
    fault_name = f"reject-key:{bad}"
    steps = [step("openai", fault_name, stream=False), step("groq", "ok-stream", stream=False)]
    for _ in range(3):  # refused three times in a row: that key's circuit opens
        r = httpx.post(url, json=[keyed(steps[0], bad), steps[1]], timeout=30)
        assert r.status_code == 200 and r.headers["cf-aig-step"] == "1"
    r = httpx.post(url, json=[keyed(steps[0], bad), steps[1]], timeout=30)
    assert r.headers["cf-aig-step"] == "1" and fault.seen[fault_name] == 3  # skipped: the provider saw nothing
    r = httpx.post(url, json=steps, timeout=30)  # another caller, a good key: answered by the first step
    assert r.status_code == 200 and r.headers["cf-aig-step"] == "0" and fault.seen[fault_name] == 4
    r = httpx.post(url, json=[keyed(steps[0], bad), steps[1]], timeout=30)
    assert r.headers["cf-aig-step"] == "1" and fault.seen[fault_name] == 4  # still open for the bad key
    rows = logs(admin, 9)
    skipped = admin.get(f"/gateways/gw/logs/{rows[-1]['id']}").json()["result"]["decisions"]["steps"][0]
    assert skipped["result"] == "skipped" and "credential circuit is open" in skipped["reason"]


def test_a_dynamic_route_continues_a_broken_stream_on_another_provider(gw, fault):
    """/compat: an OpenAI stream cut after 40 tokens, continued by Anthropic from a prefill, read as one OpenAI
    answer by the SDK."""
    url, admin = gw
    elements = [
        {"id": "s", "type": "start", "properties": {}, "outputs": {"next": {"elementId": "a"}}},
        {"id": "a", "type": "model", "properties": {"provider": "openai", "model": "gpt-4o"},
         "outputs": {"success": {"elementId": "e"}, "fallback": {"elementId": "b"}}},
        {"id": "b", "type": "model", "properties": {"provider": "anthropic", "model": "claude-3-5-haiku-latest"},
         "outputs": {"success": {"elementId": "e"}, "fallback": {"elementId": "e"}}},
        {"id": "e", "type": "end", "properties": {}, "outputs": {}},
    ]
    assert admin.post("/gateways/gw/routes", json={"name": "r", "elements": elements}).status_code == 200
    client = sdk(f"{url}/compat", **{"x-fault": "cut-after:40", "x-fault-messages": "continue"})
    chunks = list(client.chat.completions.create(model="dynamic/r", messages=[{"role": "user", "content": "x"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == LONG
    assert fault.continued[-1] == "".join(ANSWER[:40])  # Anthropic's prefill: what the client had
    rows = logs(admin, 2)
    assert [(r["provider"], r["success"]) for r in rows] == [("openai", False), ("anthropic", True)]
    steps = admin.get(f"/gateways/gw/logs/{rows[1]['id']}").json()["result"]["decisions"]["steps"]
    assert [(s["step"], s["result"]) for s in steps] == [("a", "failed"), ("b", "answered")]


def test_stream_deadlines_are_checked(gw):
    url, _ = gw
    for header in ("cf-aig-first-token-timeout", "cf-aig-stream-idle-timeout"):
        r = httpx.post(url, json=[step("groq", "ok-stream")], headers={header: "soon"}, timeout=30)
        assert r.status_code == 400 and header in r.text
    r = httpx.post(url, json=[step("groq", "ok-stream", {"streamIdleTimeout": 0})], timeout=30)
    assert r.status_code == 400 and "streamIdleTimeout" in r.text


def test_an_anthropic_stream_is_continued_by_anthropic_from_a_prefill(gw, fault):
    """The universal endpoint between two Anthropic steps, read by the anthropic SDK's stream parser: one
    message (a single message_start), the text whole."""
    anthropic = pytest.importorskip("anthropic")
    from anthropic.types import RawMessageStreamEvent

    url, _ = gw
    query = {"model": "claude-3-5-haiku-latest", "max_tokens": 500, "stream": True,
             "messages": [{"role": "user", "content": "tell me"}]}
    steps = [{"provider": "anthropic", "endpoint": "v1/messages", "query": query,
              "headers": {"x-api-key": "k", "anthropic-version": "2023-06-01", "x-fault": fault_name}}
             for fault_name in ("cut-after:25", "continue")]
    client = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
    events = list(client.post("", body=steps, cast_to=RawMessageStreamEvent, stream=True,
                              stream_cls=anthropic.Stream[RawMessageStreamEvent]))
    assert [e.type for e in events].count("message_start") == 1 and events[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == LONG and fault.continued[-1] == "".join(ANSWER[:25])


def test_the_deadlines_apply_to_a_single_provider_too(gw, fault):
    """Without a next step there is nothing to fail over to, but the caller's deadlines still hold."""
    url, _ = gw
    for fault_name, body in (("first-token-never", {**CHAT}), ("stall", {**CHAT, "stream": False})):
        started = time.monotonic()
        r = httpx.post(f"{url}/openai/chat/completions", json=body, timeout=30,
                       headers={"authorization": "Bearer k", "x-fault": fault_name,
                                "cf-aig-first-token-timeout": "400"})
        assert r.status_code == 504 and time.monotonic() - started < 3
    started = time.monotonic()
    with httpx.stream("POST", f"{url}/openai/chat/completions", json=CHAT, timeout=30,
                      headers={"authorization": "Bearer k", "x-fault": "stall-after:5",
                               "cf-aig-stream-idle-timeout": "300"}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-2] == "event: error" and "stalled" in lines[-1] and time.monotonic() - started < 3

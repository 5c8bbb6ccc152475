"""DLP through the openai SDK against `kumo serve`: each predefined detector on prompts and on streamed answers
(the match split across chunks), flag vs block with Cloudflare's header and codes, custom regex entries, and no
matched text in the logs."""

from __future__ import annotations

import json

import openai
import pytest

from tests.gateway.conftest import make_gateway

# (profile, entry, text): each predefined detector with a value its library accepts
SAMPLES = [
    ("financial-information", "credit-card-number", "my card is 4111 1111 1111 1111 thanks"),
    ("financial-information", "iban", "pay to GB82 WEST 1234 5698 7654 32 today"),
    ("government-identifiers", "us-ssn", "ssn 536-90-4399 on file"),
    ("government-identifiers", "es-dni", "DNI 54362315K"),
    ("government-identifiers", "br-cpf", "CPF 390.533.447-05"),
    ("personal-information", "email-address", "write to jane.doe@example.com now"),
    ("personal-information", "phone-number", "call +1 650-253-0000 later"),
    ("credentials-and-secrets", "cloud-keys", "AWS_ACCESS_KEY_ID=" + "AKIA" + "KUMOTESTONLY0000"),
    ("credentials-and-secrets", "code-hosting-tokens", "token " + "ghp_" + "kumoTestOnlyNotAToken" * 2 + "x" * 2),
    ("credentials-and-secrets", "private-keys", "-----BEGIN RSA PRIVATE KEY----- MIIB"),
]
CLEAN = "What is the capital of France?"


def client(gw_server, acct):
    return openai.OpenAI(api_key="sk-caller", base_url=f"{gw_server.url}/v1/{acct}/gw/openai/v1", max_retries=0)


def chat(oa, text, **kw):
    return oa.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                        messages=[{"role": "user", "content": text}], **kw)


@pytest.mark.parametrize("profile, entry, text", SAMPLES, ids=[s[1] for s in SAMPLES])
def test_each_detector_blocks_a_prompt(gw_server, fake, admin, acct, profile, entry, text):
    make_gateway(admin, dlp={"enabled": True, "action": "BLOCK", "profiles": [profile]})
    oa = client(gw_server, acct)
    sent = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        chat(oa, text)
    assert len(fake.requests) == sent  # never reached the provider
    body, headers = refused.value.response.json(), refused.value.response.headers
    assert body["error"][0]["code"] == 2029
    assert body["error"][0]["message"] == "Request content blocked due to DLP policy violations"
    finding = json.loads(headers["cf-aig-dlp"])
    assert finding["action"] == "BLOCK"
    assert finding["findings"][0]["profile"] == {"context": {}, "entry_ids": [entry], "profile_id": profile}
    assert finding["findings"][0]["check"] == "REQUEST" and finding["findings"][0]["policy_ids"] == ["default"]
    assert chat(oa, CLEAN).http_response.status_code == 200  # and a clean prompt passes


@pytest.mark.parametrize("profile, entry, text", SAMPLES, ids=[s[1] for s in SAMPLES])
def test_each_detector_blocks_a_streamed_answer_split_across_chunks(gw_server, admin, acct, profile, entry, text):
    make_gateway(admin, dlp={"enabled": True, "policies": [
        {"id": "answers", "action": "BLOCK", "check": ["RESPONSE"], "profiles": [profile]}]})
    oa = client(gw_server, acct)
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": CLEAN}],
                                        stream=True, extra_headers={"x-fake-say": text})
    received = ""
    with pytest.raises(openai.APIError) as ended:
        for chunk in stream:
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert "DLP" in str(ended.value)
    assert len(received) < len(text)  # the chunk completing the match was never sent
    # the whole answer at once: a 2030 instead of the answer
    with pytest.raises(openai.BadRequestError) as refused:
        chat(oa, CLEAN, extra_headers={"x-fake-say": text})
    assert refused.value.response.json()["error"][0]["code"] == 2030
    assert json.loads(refused.value.response.headers["cf-aig-dlp"])["findings"][0]["check"] == "RESPONSE"


def test_flag_passes_and_says_so(gw_server, admin, acct):
    make_gateway(admin, dlp={"enabled": True, "policies": [
        {"id": "audit", "action": "FLAG", "check": ["REQUEST", "RESPONSE"], "profiles": ["personal-information"]}]})
    oa = client(gw_server, acct)
    r = chat(oa, "mail jane.doe@example.com", extra_headers={"x-fake-say": "call +1 650-253-0000"})
    assert r.http_response.status_code == 200
    flagged = json.loads(r.http_response.headers["cf-aig-dlp"])
    assert flagged["action"] == "FLAG"
    assert [(f["check"], f["profile"]["entry_ids"]) for f in flagged["findings"]] == [
        ("REQUEST", ["email-address"]), ("RESPONSE", ["phone-number"])]
    stream = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": CLEAN}],
                                        stream=True, extra_headers={"x-fake-say": "call +1 650-253-0000"})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "call +1 650-253-0000"


def test_custom_regex_entries_and_logs_without_the_text(gw_server, admin, acct):
    make_gateway(admin, dlp={"enabled": True, "action": "BLOCK", "profiles": [
        {"id": "project-names", "entries": [{"id": "codename", "name": "Codenames", "regex": r"\bPROJECT-[A-Z]{4}\b"}]}]})
    oa = client(gw_server, acct)
    with pytest.raises(openai.BadRequestError) as refused:
        chat(oa, "status of PROJECT-ZEUS please")
    finding = json.loads(refused.value.response.headers["cf-aig-dlp"])["findings"][0]
    assert finding["profile"]["profile_id"] == "project-names" and finding["profile"]["entry_ids"] == ["codename"]
    assert chat(oa, "status of project zeus").http_response.status_code == 200
    log = gw_server.logged_text()
    assert "profile=project-names entries=codename" in log and "PROJECT-ZEUS" not in log


@pytest.mark.parametrize("dlp, needle", [
    ({"action": "BLOCK", "profiles": ["no-such-profile"]}, "no-such-profile"),
    ({"action": "BLOCK", "profiles": [{"id": "p", "entries": [{"id": "e", "regex": "("}]}]}, "regex"),
    ({"profiles": ["financial-information"]}, "action"),
    ({"action": "MASK", "profiles": ["financial-information"]}, "action"),
    ({"policies": [{"id": "p", "action": "BLOCK", "check": ["BOTH"], "profiles": ["financial-information"]}]}, "check"),
])
def test_dlp_settings_are_validated(admin, dlp, needle):
    r = admin.post("/gateways", json={"id": "bad", "cache_invalidate_on_update": False, "cache_ttl": None,
                                      "collect_logs": True, "rate_limiting_interval": None,
                                      "rate_limiting_limit": None, "dlp": dlp})
    assert r.status_code == 400 and "`dlp`" in r.json()["errors"][0]["message"]
    assert needle in r.json()["errors"][0]["message"]


def test_odd_bodies_are_scanned_not_crashed_on(gw_server, admin, acct):
    import httpx

    make_gateway(admin, dlp={"enabled": True, "action": "BLOCK", "profiles": ["financial-information"]})
    url = f"{gw_server.url}/v1/{acct}/gw/openai/chat/completions"
    for body in (b"\xff\xfe not utf-8 4111 1111 1111 1111", b"[1, 2, {\"a\": [\"4111111111111111\"]}]"):
        r = httpx.post(url, content=body, headers={"authorization": "Bearer k", "content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"][0]["code"] == 2029
    r = httpx.post(url, content=b"\x00" * 1000, headers={"authorization": "Bearer k"})
    assert r.status_code < 500

"""Logpush: a gateway with `logpush` on has its logs pushed in batches to the operator's destination: kumo's own R2
(read back here with boto3, gzipped NDJSON, bodies and metadata sealed to the gateway's RSA key as Cloudflare's
decryption script expects) or an HTTP endpoint; what was handed over survives a kill -9 and is pushed by the next
process; settings that cannot work are 400s naming themselves."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cloudflare
import httpx
import openai
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kumo.r2.credentials import s3_credentials
from tests.conftest import Server

TOKEN = "logpush-" + uuid.uuid4().hex  # API tokens configured: boto3 signs with the keys derived from this one
BUCKET = "ai-gateway-logs"
SETTINGS = {"cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
            "rate_limiting_interval": None, "rate_limiting_limit": None}


def _env(fake, destination: str) -> dict[str, str]:
    return {"KUMO_UPSTREAM_OPENAI": fake.url, "KUMO_API_TOKENS": json.dumps([{"token": TOKEN}]),
            "KUMO_GATEWAY_LOGPUSH_DESTINATION": destination, "KUMO_GATEWAY_LOGPUSH_INTERVAL": "0.3"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def r2_logpush(request, tmp_path_factory, fake):
    env = _env(fake, f"r2://{BUCKET}/gw-logs/{{DATE}}")
    if request.param == "postgres":  # gateways and logs in PostgreSQL + Redis (a key-encryption key: shared DB)
        env.update(KUMO_DATABASE_URL=request.getfixturevalue("pg_url"), KUMO_REDIS_URL="redis://127.0.0.1:6379/0",
                   KUMO_GATEWAY_KEY_ENCRYPTION_KEY="test-kek-" + "k" * 32)
    srv = Server(tmp_path_factory.mktemp("logpush-" + request.param) / "data", env=env)
    yield srv.start()
    srv.stop()


@pytest.fixture
def account() -> str:
    return "lp" + uuid.uuid4().hex[:12]


def _admin(srv: Server, account: str) -> httpx.Client:
    return httpx.Client(base_url=f"{srv.url}/client/v4/accounts/{account}/ai-gateway",
                        headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)


def _s3(srv: Server, account: str):
    import boto3
    from botocore.config import Config

    key_id, secret = s3_credentials(TOKEN)
    return boto3.client("s3", endpoint_url=f"{srv.url}/r2/{account}", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, region_name="auto", config=Config(retries={"max_attempts": 1}))


def _keypair(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, pem


def _open(private: rsa.RSAPrivateKey, sealed: dict) -> str:
    """Cloudflare's decryption script, in Python: RSA-OAEP (SHA-256) opens the AES key, AES-GCM the data."""
    assert sealed["type"] == "encrypted"
    aes_key = private.decrypt(base64.b64decode(sealed["key"]),
                              padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    return AESGCM(aes_key).decrypt(base64.b64decode(sealed["iv"]), base64.b64decode(sealed["data"]), None).decode()


def _pushed_lines(s3, timeout: float = 20, count: int = 1) -> tuple[list[str], list[dict]]:
    deadline = time.monotonic() + timeout
    while True:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        lines = [json.loads(line) for key in keys
                 for line in gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()]
        if len(lines) >= count or time.monotonic() > deadline:
            return keys, lines
        time.sleep(0.2)


def test_logs_pushed_to_r2_sealed(r2_logpush, fake, account):
    s3 = _s3(r2_logpush, account)
    s3.create_bucket(Bucket=BUCKET)
    private, pem = _keypair()
    cf = cloudflare.Cloudflare(api_token=TOKEN, base_url=r2_logpush.url + "/client/v4", max_retries=0)
    created = cf.ai_gateway.create(account_id=account, id="pushed", **SETTINGS, logpush=True, logpush_public_key=pem)
    assert created.logpush is True and created.logpush_public_key == pem
    cf.ai_gateway.create(account_id=account, id="quiet", **SETTINGS)
    base = f"{r2_logpush.url}/v1/{account}"
    pushed = openai.OpenAI(api_key="sk-caller", base_url=f"{base}/pushed/openai/v1", max_retries=0)
    quiet = openai.OpenAI(api_key="sk-caller", base_url=f"{base}/quiet/openai/v1", max_retries=0)
    for n in range(3):
        pushed.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"secret plan {n}"}],
                                       extra_headers={"cf-aig-metadata": json.dumps({"user_id": f"u{n}"})})
        quiet.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "not pushed"}])

    keys, lines = _pushed_lines(s3, count=3)
    assert len(lines) == 3, lines  # only the gateway with logpush on
    assert all(re.fullmatch(r"gw-logs/\d{8}/\d{8}T\d{6}Z_\d{8}T\d{6}Z_[0-9a-f]{8}\.log\.gz", k) for k in keys), keys
    assert {line["Gateway"] for line in lines} == {"pushed"}
    first = lines[0]
    assert first["Provider"] == "openai" and first["Model"] == "gpt-4o-mini" and first["StatusCode"] == 200
    assert first["TokensIn"] > 0 and first["Cost"] > 0 and first["Endpoint"].endswith("chat/completions")
    raw = json.dumps(lines)
    assert "secret plan" not in raw and "user_id" not in raw  # bodies and metadata only sealed
    prompts = sorted(json.loads(_open(private, line["RequestBody"]))["messages"][0]["content"] for line in lines)
    assert prompts == ["secret plan 0", "secret plan 1", "secret plan 2"]
    assert sorted(json.loads(_open(private, line["Metadata"]))["user_id"] for line in lines) == ["u0", "u1", "u2"]
    assert json.loads(_open(private, first["ResponseBody"]))["object"] == "chat.completion"
    assert "sk-caller" not in raw and "RequestHead" not in first  # headers carry the metadata


# Cloudflare's decryption steps (its Logpush page's Node script): privateDecrypt with oaepHash SHA256, then
# WebCrypto AES-GCM; reads {"key": <private PEM>, "sealed": <field>} on stdin, prints the plaintext
NODE_DECRYPT = r"""
const crypto = require("crypto");
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", async () => {
  const { key, sealed } = JSON.parse(input);
  const aesKeyBuf = crypto.privateDecrypt({ key: crypto.createPrivateKey(key), oaepHash: "SHA256" },
                                          Buffer.from(sealed.key, "base64"));
  const aesKey = await crypto.webcrypto.subtle.importKey("raw", aesKeyBuf, { name: "AES-GCM", length: 256 }, true,
                                                         ["encrypt", "decrypt"]);
  const data = await crypto.subtle.decrypt({ name: "AES-GCM", iv: Buffer.from(sealed.iv, "base64") }, aesKey,
                                           Buffer.from(sealed.data, "base64"));
  process.stdout.write(new TextDecoder().decode(data));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs Cloudflare's decryption script")
def test_cloudflares_decryption_script_opens_the_lines(r2_logpush, account):
    s3 = _s3(r2_logpush, account)
    s3.create_bucket(Bucket=BUCKET)
    private, pem = _keypair(4096)  # the size Cloudflare's page generates
    with _admin(r2_logpush, account) as admin:
        r = admin.post("/gateways", json={"id": "node", **SETTINGS, "logpush": True, "logpush_public_key": pem})
        assert r.status_code == 200, r.text
    oa = openai.OpenAI(api_key="sk-caller", base_url=f"{r2_logpush.url}/v1/{account}/node/openai/v1", max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "opened by node"}])
    _, lines = _pushed_lines(s3)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    out = subprocess.run(["node", "-e", NODE_DECRYPT], input=json.dumps({"key": private_pem,
                                                                         "sealed": lines[0]["RequestBody"]}),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["messages"][0]["content"] == "opened by node"


def test_plain_lines_without_a_key(r2_logpush, account):
    s3 = _s3(r2_logpush, account)
    s3.create_bucket(Bucket=BUCKET)
    with _admin(r2_logpush, account) as admin:
        assert admin.post("/gateways", json={"id": "plain", **SETTINGS, "logpush": True}).status_code == 200
    oa = openai.OpenAI(api_key="sk-caller", base_url=f"{r2_logpush.url}/v1/{account}/plain/openai/v1", max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "in the clear"}])
    _, lines = _pushed_lines(s3)
    assert json.loads(lines[0]["RequestBody"])["messages"][0]["content"] == "in the clear"


@pytest.mark.parametrize("change, needle", [
    ({"logpush": True}, f"R2 bucket {BUCKET!r}"),  # the account has no such bucket
    ({"logpush": True, "collect_logs": False}, "collect_logs"),
    ({"logpush_public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"}, "PEM"),
    ({"logpush_public_key": _keypair(1024)[1]}, "2048 to 8192 bits"),
    ({"logpush_public_key": 42}, "logpush_public_key"),
])
def test_settings_that_cannot_work_are_refused(r2_logpush, account, change, needle):
    with _admin(r2_logpush, account) as admin:
        r = admin.post("/gateways", json={"id": "refused", **SETTINGS, **change})
        assert r.status_code == 400, r.text
        message = r.json()["errors"][0]["message"]
        assert needle in message and "logpush" in message
        assert admin.get("/gateways/refused").status_code == 404  # nothing half-made


def test_logpush_without_a_destination_names_the_setting(admin):
    r = admin.post("/gateways", json={"id": "nowhere", **SETTINGS, "logpush": True})
    assert r.status_code == 400 and "KUMO_GATEWAY_LOGPUSH_DESTINATION" in r.json()["errors"][0]["message"]


class Collector:
    """An HTTP Logpush destination: gzipped NDJSON POSTs; answers 503 while `down`."""

    def __init__(self):
        self.lines: list[dict] = []
        self.headers: list[dict] = []
        self.down = True
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if collector.down:
                    self.send_response(503)
                else:
                    assert self.headers.get("content-encoding") == "gzip"
                    collector.headers.append(dict(self.headers))
                    collector.lines += [json.loads(line) for line in gzip.decompress(body).splitlines()]
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_http_destination_and_kill9(tmp_path, fake, account):
    collector = Collector()
    secret = "collector-" + uuid.uuid4().hex
    env = _env(fake, f"{collector.url}?source=kumo&header_Authorization=Bearer%20{secret}")
    data = tmp_path / "data"
    first = Server(data, env=env).start()
    try:
        with _admin(first, account) as admin:
            assert admin.post("/gateways", json={"id": "gw", **SETTINGS, "logpush": True}).status_code == 200
            oa = openai.OpenAI(api_key="sk-caller", base_url=f"{first.url}/v1/{account}/gw/openai/v1", max_retries=0)
            for n in range(4):
                oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {n}"}])
            deadline = time.monotonic() + 20
            while len(admin.get("/gateways/gw/logs").json()["result"]) < 4 and time.monotonic() < deadline:
                time.sleep(0.1)  # the logs API reads after the writer's flush: the rows are stored, so handed over
            time.sleep(1)  # a few push rounds against the collector that is down
    finally:
        first.kill9()
    assert collector.lines == []
    collector.down = False
    second = Server(data, env=env).start()  # the same data dir: the spool left by the killed process
    try:
        deadline = time.monotonic() + 20
        while len(collector.lines) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(json.loads(line["RequestBody"])["messages"][0]["content"] for line in collector.lines) == \
            ["call 0", "call 1", "call 2", "call 3"]
        sent = collector.headers[0]
        assert sent["Authorization"] == f"Bearer {secret}"
        assert secret not in first.log.read_text() + second.logged_text()  # the destination's credentials
    finally:
        second.stop()
        collector.server.shutdown()

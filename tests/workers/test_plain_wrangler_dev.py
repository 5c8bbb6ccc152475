"""Plain `wrangler dev` (no kumo launcher) with CLOUDFLARE_API_BASE_URL at kumo: the preview handshake it makes
for remote bindings is answered, and the Worker starts with its AI and Vectorize bindings remote. The binding
traffic itself then goes to https://<worker>.kumo.workers.dev:443, which needs DNS and TLS set up by the user
(README); kumo's answer to that traffic is covered in test_protocol_http.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from tests.conftest import free_port
from tests.workers.conftest import HERE

CONFIG = """{
  "name": "plain-probe",
  "main": "src/index.js",
  "compatibility_date": "2025-04-01",
  "ai": { "binding": "AI" },
  "vectorize": [{ "binding": "VECTORIZE", "index_name": "probe-index", "remote": true }]
}
"""


def test_wrangler_dev_gets_its_preview_token_from_kumo(node_tools, server, tmp_path):
    shutil.copytree(HERE / "probe" / "src", tmp_path / "src")
    (tmp_path / "wrangler.jsonc").write_text(CONFIG)
    wrangler = HERE.parent.parent / "src" / "kumo" / "workers" / "node" / "node_modules" / ".bin" / "wrangler"
    log = tmp_path / "wrangler.log"
    env = {**os.environ, "CLOUDFLARE_API_BASE_URL": f"{server.url}/client/v4", "CLOUDFLARE_API_TOKEN": "dev-token",
           "CLOUDFLARE_ACCOUNT_ID": "plain-acct", "WRANGLER_SEND_METRICS": "false", "CI": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(wrangler), "dev", "--port", str(free_port()), "--ip", "127.0.0.1"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while b"Ready on" not in log.read_bytes():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, 15)  # wrangler and the workerd processes it started
            proc.wait(30)
    text = log.read_text()
    assert "env.VECTORIZE (probe-index)" in text and "remote" in text
    served = server.logged_text()
    for call in ("GET /client/v4/accounts/plain-acct/workers/subdomain/edge-preview",
                 "GET /client/v4/accounts/plain-acct/workers/subdomain\"",
                 "POST /client/v4/accounts/plain-acct/workers/scripts/plain-probe/edge-preview"):
        line = next((ln for ln in served.splitlines() if call in ln), None)
        assert line is not None and "\" 200 " in line, call

"""`kumo serve --workers-dev-port`: the same kumo over TLS as *.kumo.workers.dev (where plain `wrangler dev` sends
its remote-binding traffic), under a certificate from kumo's own CA; a client trusting only that CA connects by
name and gets a binding answered with the preview token wrangler would send."""

from __future__ import annotations

import json
import socket
import ssl

import httpx

from tests.conftest import Server, free_port
from tests.workers.test_protocol_http import AUTH, preview_token


def https_get(port: int, host: str, ca_file: str, headers: dict[str, str]) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=ca_file)  # only kumo's CA: verified by name, as workerd does
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            lines = [f"GET / HTTP/1.1", f"host: {host}", "connection: close",
                     *(f"{k}: {v}" for k, v in headers.items())]
            tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_wrangler_dev_traffic_over_tls(tmp_path):
    tls_port = free_port()
    server = Server(tmp_path / "data", args=["--workers-dev-port", str(tls_port)]).start()
    try:
        assert httpx.post(f"{server.url}/client/v4/accounts/tls-acct/vectorize/v2/indexes", headers=AUTH, json={
            "name": "idx", "config": {"dimensions": 8, "metric": "cosine"}}).status_code in (200, 201)
        token = preview_token(server.url, "tls-acct", [{"name": "VEC", "type": "vectorize", "index_name": "idx"}]
                              ).json()["result"]["preview_token"]
        ca = str(tmp_path / "data" / "workers-dev-tls" / "ca.pem")
        status, body = https_get(tls_port, "binding-probe.kumo.workers.dev", ca, {
            "cf-workers-preview-token": token, "mf-url": "http://vector-search/info", "mf-binding": "VEC"})
        assert status == 200 and json.loads(body)["dimensions"] == 8

        try:  # the certificate names only kumo's workers.dev hosts
            https_get(tls_port, "example.com", ca, {})
            raise AssertionError("a certificate for example.com was accepted")
        except ssl.SSLCertVerificationError:
            pass
    finally:
        server.stop()
    assert server.proc.returncode == 0  # SIGTERM stops both listeners and exits cleanly

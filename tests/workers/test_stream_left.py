"""A client that leaves a Worker's token stream: the disconnect reaches kumo through workerd and the bridge, and
kumo's request ends there (its access line is written with the few bytes sent) instead of generating on.

On the tests' own kumo (also checking a Worker under API tokens): while chat models still wedge when a stream is left early (a known Workers AI runtime issue, fixed
separately), the shared test server must not be the one left wedged."""

from __future__ import annotations

import re
import time

import httpx

from tests.workers.conftest import PROBE, Worker

LLM = "@cf/meta/llama-3.1-8b-instruct"
STREAM_LINE = re.compile(r'"POST /workers/bindings\?token=\[redacted\]" 200 (\d+)B ([\d.]+)ms')


def test_leaving_a_worker_stream_ends_kumos_request(node_tools, own_server, tmp_path):
    server = own_server
    worker = Worker(PROBE, server.url, "acct-a", tmp_path / "worker.log", token="alpha")
    try:
        with httpx.stream("POST", f"{worker.url}/stream", json={"model": LLM, "inputs": {
                "prompt": "Write a very long story about the sea.", "max_tokens": 2000}}, timeout=120) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    break
        left_at = time.monotonic()
        ended = None
        while ended is None and time.monotonic() - left_at < 30:
            ended = next((m for m in STREAM_LINE.finditer(server.log.read_text()) if int(m.group(1)) > 0
                          and float(m.group(2)) > 0), None)
            time.sleep(0.2)
        assert ended is not None, "kumo's streaming request did not end after the client left"
        assert int(ended.group(1)) < 20_000  # a few events, not 2000 tokens' worth
    finally:
        worker.stop()

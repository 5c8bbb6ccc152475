"""What the gateway benchmark sends and where each process runs: the account, gateway and model, the request
bodies, and the CPU placement (the proxy under test on one core, everything else on the other)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ENTRY = Path(__file__).resolve().parent.parent / "gateway_proxy.py"  # the script each role's process runs
ACCOUNT = "acct"
GATEWAY = "gw"
MODEL = "gpt-4o-mini"
REQUEST_BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}],
                           "max_tokens": 16}, separators=(",", ":"))
STREAM_BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}],
                          "max_tokens": 16, "stream": True, "stream_options": {"include_usage": True}},
                         separators=(",", ":"))
# a proxy gets one whole core; the fake provider, load generator, wrk and the orchestrator share the other
PROXY_CPU, CLIENT_CPU = ("0", "1") if (os.cpu_count() or 1) >= 2 else ("0", "0")

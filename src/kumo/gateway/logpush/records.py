"""A log record as a line of Logpush's AI Gateway dataset: the log API's fields in Logpush's PascalCase, one JSON
object a line. Metadata, RequestBody and ResponseBody are sealed to the gateway's public key when it has one
(see encryption.py), plain strings otherwise. Headers stay out: they carry cf-aig-metadata, which is sealed."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from kumo.gateway.logpush.encryption import Envelope
from kumo.gateway.store import LogRecord

# Cloudflare exports a log of up to 1 MB: each body keeps its first 512 KiB, and says when it was cut
MAX_BODY = 512 * 1024


def line(record: LogRecord, key: RSAPublicKey | None) -> bytes:
    envelope = Envelope(key) if key is not None else None
    out: dict[str, Any] = {
        "ID": record.id, "Datetime": record.created_at, "Gateway": record.gateway, "Provider": record.provider,
        "Model": record.model, "Endpoint": record.path, "StatusCode": record.status_code, "Success": record.success,
        "Cached": record.cached, "Duration": record.duration, "TokensIn": record.tokens_in,
        "TokensOut": record.tokens_out, "Cost": record.cost, "CustomCost": record.custom_cost, "Step": record.step,
        "EventID": record.event_id, "RequestContentType": record.request_content_type,
        "ResponseContentType": record.response_content_type,
        "Metadata": _field(json.dumps(record.metadata or {}, separators=(",", ":")).encode(), envelope),
    }
    for name, body in (("RequestBody", record.request_body), ("ResponseBody", record.response_body)):
        if body is None:
            out[name] = None
            continue
        if len(body) > MAX_BODY:
            out[name + "Truncated"] = True
        out[name] = _field(body[:MAX_BODY], envelope)
    return json.dumps(out, separators=(",", ":")).encode() + b"\n"  # ASCII: a lone surrogate stays escaped


def _field(raw: bytes, envelope: Envelope | None) -> Any:
    return envelope.seal(raw) if envelope is not None else raw.decode("utf-8", "replace")

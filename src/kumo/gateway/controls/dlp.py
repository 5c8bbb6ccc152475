"""Data Loss Prevention on prompts and responses, in Cloudflare's shape: policies of profiles, each checking the
REQUEST, the RESPONSE or both, with action FLAG (recorded) or BLOCK (2029 for a prompt, 2030 for a response). The
findings travel in the `cf-aig-dlp` header and the log by profile and entry, never the matched text. Streams are
scanned as they pass, with the tail of the text kept so a match split across two chunks is found; a block ends
the stream with an error event.

Profiles are kumo's predefined ones (detectors.py) or custom ones written inline in the setting:
`{"id": "...", "entries": [{"id": "...", "name": "...", "regex": "..."}]}`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from kumo.gateway.controls.detectors import PROFILES, Entry, Profile, matches
from kumo.gateway.controls.memo import Memo
from kumo.gateway.errors import GatewayError

log = logging.getLogger("kumo.gateway.dlp")

REQUEST_BLOCKED = 2029
RESPONSE_BLOCKED = 2030
HEADER = "cf-aig-dlp"
TAIL = 256  # characters of a stream's text kept to find matches that span chunks
# JSON keys whose strings are not content (a prompt's model name is no leak)
NOT_CONTENT = frozenset({"model", "role", "type", "id", "object", "finish_reason", "stop_reason", "system_fingerprint",
                         "created", "index", "name", "tool_call_id", "stream", "event"})


class CustomEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr = Field(min_length=1, max_length=64)
    name: StrictStr | None = None
    regex: StrictStr = Field(min_length=1, max_length=1000)


class CustomProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr = Field(min_length=1, max_length=64)
    name: StrictStr | None = None
    entries: list[CustomEntry] = Field(min_length=1, max_length=50)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr = Field(min_length=1, max_length=64)
    enabled: StrictBool = True
    action: Literal["BLOCK", "FLAG"]
    check: list[Literal["REQUEST", "RESPONSE"]] = Field(default=["REQUEST", "RESPONSE"], min_length=1)
    profiles: list[StrictStr | CustomProfile] = Field(min_length=1, max_length=20)


class DlpSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool = True
    action: Literal["BLOCK", "FLAG"] | None = None  # the one-policy form: action + profiles
    profiles: list[StrictStr | CustomProfile] | None = None
    policies: list[Policy] | None = Field(default=None, max_length=20)


def validate(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    parsed = DlpSetting.model_validate(value)
    if (parsed.policies is None) == (parsed.profiles is None):
        raise ValueError("send either `action` + `profiles`, or `policies`")
    if parsed.profiles is not None and parsed.action is None:
        raise ValueError("`profiles` needs an `action` (BLOCK or FLAG)")
    for policy in _policies(parsed.model_dump(exclude_none=True)):
        for profile in policy["profiles"]:
            _profile(profile)  # raises for an unknown profile or a regular expression that does not compile
    return parsed.model_dump(exclude_none=True)


def _policies(setting: dict[str, Any]) -> list[dict[str, Any]]:
    if setting.get("policies") is not None:
        return [p for p in setting["policies"] if p.get("enabled", True)]
    return [{"id": "default", "action": setting["action"], "check": ["REQUEST", "RESPONSE"],
             "profiles": setting["profiles"]}]


def _profile(spec: str | dict[str, Any]) -> Profile:
    if isinstance(spec, str):
        if spec not in PROFILES:
            raise ValueError(f"unknown DLP profile {spec!r}: kumo's predefined profiles are {', '.join(PROFILES)}; "
                             "or write a custom one inline as {id, entries: [{id, name, regex}]}")
        return PROFILES[spec]
    entries = []
    for e in spec["entries"]:
        try:
            regex = re.compile(e["regex"])
        except re.error as exc:
            raise ValueError(f"custom profile {spec['id']!r}, entry {e['id']!r}: the regex does not compile: "
                             f"{exc}") from None
        entries.append(Entry(e["id"], e.get("name") or e["id"], matches(regex)))
    return Profile(spec["id"], spec.get("name") or spec["id"], tuple(entries))


@dataclass
class Scanner:
    """The policies of one gateway that check one side (REQUEST or RESPONSE), compiled once per setting."""

    check: str
    policies: list[tuple[str, str, list[Profile]]]  # (policy id, action, profiles)

    def scan(self, text: str, since: int = 0) -> tuple[list[dict[str, Any]], str | None]:
        """Findings in Cloudflare's shape and the action (BLOCK wins over FLAG) for matches ending after `since`."""
        findings, action = [], None
        for policy_id, policy_action, profiles in self.policies:
            for profile in profiles:
                entry_ids = [e.id for e in profile.entries if any(end > since for _, end in e.find(text))]
                if entry_ids:
                    findings.append({"profile": {"context": {}, "entry_ids": entry_ids, "profile_id": profile.id},
                                     "policy_ids": [policy_id], "check": self.check})
                    action = "BLOCK" if policy_action == "BLOCK" or action == "BLOCK" else "FLAG"
        return findings, action


_compiled = Memo()
_OFF: dict[str, Scanner | None] = {"REQUEST": None, "RESPONSE": None}


def _build(setting: dict[str, Any]) -> dict[str, Scanner | None]:
    out: dict[str, Scanner | None] = {}
    for check in ("REQUEST", "RESPONSE"):
        policies = [(p["id"], p["action"], [_profile(s) for s in p["profiles"]]) for p in _policies(setting)
                    if check in p.get("check", ["REQUEST", "RESPONSE"])]
        out[check] = Scanner(check, policies) if policies else None
    return out


def scanners(setting: dict[str, Any] | None) -> dict[str, Scanner | None]:
    """{"REQUEST": Scanner|None, "RESPONSE": Scanner|None} for a gateway's `dlp` setting (compiled once)."""
    if not setting or not setting.get("enabled", True):
        return _OFF
    return _compiled.get(setting, _build)


def _strings(node: Any, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k not in NOT_CONTENT or not isinstance(v, str):
                _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)


def text_of(body: bytes) -> str:
    """The content of a JSON body (its strings, keys like `model` aside), else the body as text."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
    parts: list[str] = []
    _strings(parsed, parts)
    return "\n".join(parts)


def header(findings: list[dict[str, Any]], action: str) -> str:
    return json.dumps({"findings": findings, "action": action}, separators=(",", ":"))


def record(c_account: str, gateway: str, log_id: str, findings: list[dict[str, Any]], action: str) -> None:
    """The log line: profiles, entries and policies, never the text that matched."""
    for f in findings:
        log.info("dlp %s %s account=%s gateway=%s log=%s policy=%s profile=%s entries=%s", action, f["check"],
                 c_account, gateway, log_id, ",".join(f["policy_ids"]), f["profile"]["profile_id"],
                 ",".join(f["profile"]["entry_ids"]))


class Blocked(GatewayError):
    """A DLP block; its header says what matched."""

    def __init__(self, check: str, findings: list[dict[str, Any]]):
        code = REQUEST_BLOCKED if check == "REQUEST" else RESPONSE_BLOCKED
        what = "Request" if check == "REQUEST" else "Response"
        super().__init__(400, code, f"{what} content blocked due to DLP policy violations")
        self.headers = {HEADER: header(findings, "BLOCK")}


@dataclass
class StreamText:
    """The text of a server-sent-event stream as it passes (complete `data:` lines, their content strings)."""

    keep: bool = True  # keep the whole text in `text` (guardrails judge it whole; DLP keeps its own tail)
    buffer: bytes = b""
    text: str = ""

    def feed(self, chunk: bytes) -> str:
        """The new text this chunk completes."""
        self.buffer += chunk
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        new: list[str] = []
        for line in lines:
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data and data != b"[DONE]":
                    try:
                        payload = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        continue
                    _strings(payload, new)
        added = "".join(new)
        if self.keep:
            self.text += added
        return added


@dataclass
class StreamScan:
    """Scans a server-sent-event stream as it passes: complete lines only, the text of their `data:` JSON."""

    scanner: Scanner
    reader: StreamText = field(default_factory=lambda: StreamText(keep=False))
    text: str = ""  # the tail of the text seen so far
    findings: list[dict[str, Any]] = field(default_factory=list)
    action: str | None = None

    def feed(self, chunk: bytes) -> str | None:
        """The action of what this chunk completes (None: nothing found)."""
        new = self.reader.feed(chunk)
        if not new:
            return None
        since = len(self.text)
        self.text += new
        findings, action = self.scanner.scan(self.text, since)
        if len(self.text) > TAIL:
            self.text = self.text[-TAIL:]
        if findings:
            self.findings += findings
            self.action = "BLOCK" if action == "BLOCK" or self.action == "BLOCK" else action
        return action


async def scanned(chunks: AsyncIterator[bytes], scan: StreamScan, on_block, on_flag) -> AsyncIterator[bytes]:
    """The stream, each chunk scanned before it is passed on; a block raises `on_block(findings)`; flags are
    reported to `on_flag(findings)` at its end."""
    async for chunk in chunks:
        if scan.feed(chunk) == "BLOCK":
            raise on_block(scan.findings)
        yield chunk
    if scan.findings:
        on_flag(scan.findings)

"""Guardrails: prompts and answers judged by Llama Guard 3 (`@cf/meta/llama-guard-3-8b`, a Workers AI catalog
model run by kumo's own inference service: pulled weights or a `remote` runtime). Cloudflare's setting maps hazard
categories (S1-S14) to FLAG or BLOCK for the prompt and for the response; a block is 2016 (prompt) or 2017
(response). Without the model, turning guardrails on is a 400 that says how to get it: nothing pretends to judge.

A streamed answer is judged when it ends (it has to be whole to be judged): an unsafe one under BLOCK ends with an
error event instead of a clean end."""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool

from kumo.gateway.errors import GatewayError

log = logging.getLogger("kumo.gateway.guardrails")

MODEL = "@cf/meta/llama-guard-3-8b"
PROMPT_BLOCKED = 2016
RESPONSE_BLOCKED = 2017
CATEGORIES = {
    "S1": "Violent Crimes", "S2": "Non-Violent Crimes", "S3": "Sex-Related Crimes", "S4": "Child Sexual Exploitation",
    "S5": "Defamation", "S6": "Specialized Advice", "S7": "Privacy", "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons", "S10": "Hate", "S11": "Suicide & Self-Harm", "S12": "Sexual Content",
    "S13": "Elections", "S14": "Code Interpreter Abuse",
}
Action = Literal["FLAG", "BLOCK", "IGNORE"]


class Side(BaseModel):
    model_config = ConfigDict(extra="forbid")
    S1: Action | None = None
    S2: Action | None = None
    S3: Action | None = None
    S4: Action | None = None
    S5: Action | None = None
    S6: Action | None = None
    S7: Action | None = None
    S8: Action | None = None
    S9: Action | None = None
    S10: Action | None = None
    S11: Action | None = None
    S12: Action | None = None
    S13: Action | None = None
    S14: Action | None = None


class GuardrailsSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool = True
    prompt: Side | None = None
    response: Side | None = None


def validate(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    for side in ("prompt", "response"):
        if isinstance(value.get(side), dict) and "P1" in value[side]:
            raise ValueError(f"{side}.P1 (prompt injection) needs a prompt-injection classifier, which kumo does not "
                             f"have; {MODEL} judges the hazard categories S1-S14")
    return GuardrailsSetting.model_validate(value).model_dump(exclude_none=True)


def actions(setting: dict[str, Any] | None, side: str) -> dict[str, str]:
    """{category: FLAG|BLOCK} switched on for one side ("prompt" or "response")."""
    if not setting or not setting.get("enabled", True):
        return {}
    return {k: v for k, v in (setting.get(side) or {}).items() if v in ("FLAG", "BLOCK")}


def in_use(setting: dict[str, Any] | None) -> bool:
    return bool(actions(setting, "prompt") or actions(setting, "response"))


def missing_model_error(reason: str) -> str:
    return (f"guardrails are judged by {MODEL}, which this kumo cannot run ({reason}): run "
            f"`kumo models pull {MODEL}`, or serve it elsewhere and add it to kumo.toml as a `remote` model "
            "([[models]] name, task = \"text-generation\", runtime = \"remote\", config.base_url)")


def verdict(answer: str) -> list[str]:
    """The categories of Llama Guard's answer: "safe" -> [], "unsafe\\nS1,S10" -> ["S1", "S10"]."""
    text = answer.strip().lower()
    if text.startswith("safe"):
        return []
    if not text.startswith("unsafe"):
        raise ValueError(f"not a Llama Guard verdict: {answer[:80]!r}")
    found = re.findall(r"\bs(\d{1,2})\b", text)
    return [f"S{n}" for n in found if f"S{n}" in CATEGORIES] or ["unknown"]


def conversation(prompt: str, answer: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": prompt[:20000]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer[:20000]})
    return messages


def decide(categories: list[str], wanted: dict[str, str], side: str, where: str) -> GatewayError | None:
    """Log what was flagged; the error to answer with when a BLOCK category was found."""
    hit = {c: wanted[c] for c in categories if c in wanted}
    if not hit:
        return None
    action = "BLOCK" if "BLOCK" in hit.values() else "FLAG"
    log.info("guardrails %s %s %s categories=%s", action, side, where, ",".join(sorted(hit)))
    if action == "BLOCK":
        if side == "prompt":
            return GatewayError(400, PROMPT_BLOCKED, "Prompt blocked due to security configurations")
        return GatewayError(400, RESPONSE_BLOCKED, "Response blocked due to security configurations")
    return None


def check_available(ai, settings: dict[str, Any]) -> None:
    """A 400 naming how to get the model when guardrails are switched on and kumo cannot run it."""
    from kumo.errors import InvalidRequest

    if not in_use(settings.get("guardrails")):
        return
    entry = ai.catalog.get(MODEL)
    if entry is None:
        raise InvalidRequest("`guardrails`: " + missing_model_error("it is not in this kumo's catalog"))
    state, _ = ai.status(entry)
    if state != "present":
        raise InvalidRequest("`guardrails`: " + missing_model_error("its weights are not installed"))

"""What every mapped binding call needs besides the call itself: whose account, how kumo's own routes are to
be told the caller is allowed, and where this kumo is reachable (for the URLs a binding hands back)."""

from __future__ import annotations

from dataclasses import dataclass

from kumo.workers.sessions import BindingSession


@dataclass(frozen=True)
class CallContext:
    session: BindingSession
    credential: str  # an API token of this kumo allowed on the account (any string in dev mode): in process only
    public_base: str  # e.g. http://127.0.0.1:8787
    workers_ai_in_process: bool  # the gateway's workers-ai upstream is this kumo (no override elsewhere)

    @property
    def account(self) -> str:
        return self.session.account

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.credential}"}

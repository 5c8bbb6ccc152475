"""The gateway's controls on one call, behind two hooks of the pipeline: `before_send` (after a cache miss, before
the provider is called: a control may refuse the call with a gateway error) and `completed` (the call's Finished:
a control may count it). Each control is its own module; this class only runs them in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from kumo.gateway.controls import spend
from kumo.gateway.finished import Finished, loads

if TYPE_CHECKING:
    from kumo.gateway.pipeline import Call


class Controls:
    def __init__(self, spend_counter: spend.SpendCounter):
        self.spend_counter = spend_counter

    async def before_send(self, c: Call) -> None:
        limits = c.gateway.get("spend_limits")
        if limits:
            model = c.provider.model_of(c.path, loads(c.body))
            c.budgets = spend.budgets(limits, c.account, c.gateway_id, c.provider.slug, model, c.options.metadata)
            await spend.check(self.spend_counter, c.budgets)

    def completed(self, c: Call, finished: Finished) -> Awaitable[None] | None:
        """What is still to do for a finished call, as a task the pipeline awaits before the answer ends (so the
        caller's next request sees it), or None."""
        if c.budgets and not finished.cached:
            cost = finished.priced()[2]
            if cost:
                return asyncio.ensure_future(self.spend_counter.add(c.budgets, cost))
        return None

"""``Ticket``: one chat request's passage through the gateway, from key to ledger row.

The api layer calls, in order: :meth:`authenticate` (401), :meth:`route` once the model is
known (403 for a key that may not use it), :meth:`admit` with the prompt's token count and
the most the request may generate (429 from the key's cap on requests in flight, the rate
limits and quota), :meth:`observe` for every ChatEvent, and ends with exactly one of
:meth:`complete` (awaited before the response's final frame: the row is then committed),
:meth:`fail` (an error answer) or :meth:`abandon` (the client left).

Admission reserves the prompt and the whole possible output against the token windows and
the quota, so concurrent requests cannot overshoot them; the end settles the charge to what
was used (the usage reported, else the prompt and one token per generated delta seen). A
request refused after admission without generating anything (queue full, its deadline in
the queue, no model or replica to answer: a 503) gets its whole charge back, request
included. The end also lets go of the key's in-flight count, and records metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from qwenchat.core import ChatEvent, ContentDelta, Finish, ReasoningDelta, ToolCallDelta, Usage
from qwenchat.errors import (
    AccessDenied,
    AuthenticationError,
    ModelUnavailable,
    QwenchatError,
    RateLimited,
    ServerOverloaded,
)
from qwenchat.gateway.keys import ApiKey
from qwenchat.gateway.ledger import UsageRow
from qwenchat.gateway.limits import Admission, Rule

if TYPE_CHECKING:
    from qwenchat.gateway.gateway import Gateway

CLIENT_CLOSED = 499  # nginx's status for a client that went away


class Ticket:
    """The gateway's view of one request; see the module docstring for the call order."""

    def __init__(self, gateway: Gateway, request_id: str, *, stream: bool) -> None:
        self._gateway = gateway
        self.request_id = request_id
        self.stream = stream
        self.key: ApiKey | None = None
        self.model = ""
        self.deployment = ""
        # the model's metric label: only served ids, so clients cannot add series at will
        self._label = ""
        self._created = datetime.now(timezone.utc)
        self._started = time.perf_counter()
        self._first_token: float | None = None
        self._finish_reason: str | None = None
        self._usage = self._admitted = Usage(prompt_tokens=0, completion_tokens=0)
        self._rules: Sequence[Rule] = ()
        self._admission: Admission | None = None
        self._num_deltas = 0
        self._holds_key = False
        self._is_open = False
        self._is_abandoned = False
        self._is_ended = False

    async def authenticate(self, authorization: str | None) -> None:
        """Find the caller's key (401 ``invalid_api_key`` if it is needed and not valid)."""
        self.key = await self._gateway.authenticator.authenticate(authorization)

    def route(self, model: str, deployment: str) -> None:
        """The request is for ``model``, served by ``deployment``; 403 if the key may not."""
        self.model, self.deployment, self._label = model, deployment, model
        if self.key is not None and not self.key.allows(model):
            raise AccessDenied(f"The API key may not use the model `{model}`.")
        self._gateway.metrics.in_progress.labels(model).inc()
        self._is_open = True

    def name_model(self, model: str, *, is_served: bool) -> None:
        """The model a request refused before :meth:`route` asked for (for its row)."""
        self.model = model
        if is_served:
            self._label = model

    async def admit(self, prompt_tokens: int, max_output_tokens: int = 0) -> None:
        """Hold one of the key's in-flight places, then check the rate limits and quota and
        charge them the request and ``prompt_tokens + max_output_tokens``; 429 if any
        refuses."""
        self._holds_key = self._gateway.hold(self.key)
        rules = await self._gateway.rules_for(self.key, self.model)
        if rules:
            self._admission = await self._gateway.admit(rules,
                                                        prompt_tokens + max_output_tokens)
            self._rules = rules
        self._usage = self._admitted = Usage(prompt_tokens=prompt_tokens, completion_tokens=0)

    def observe(self, event: ChatEvent) -> None:
        """Note the first generated text, the first choice's finish reason and the usage."""
        if isinstance(event, (ContentDelta, ReasoningDelta, ToolCallDelta)):
            self._num_deltas += 1
            if self._first_token is None:
                self._first_token = time.perf_counter()
        elif isinstance(event, Finish):
            if self._finish_reason is None or event.choice == 0:
                self._finish_reason = event.reason.value
        elif isinstance(event, Usage):
            self._usage = event

    async def complete(self) -> None:
        """The response is whole: charge, record and wait until the row is committed."""
        row = self._end(200, None)
        if row is not None:
            await self._settle()
            await self._gateway.ledger.record_durably(row)

    def fail(self, error: QwenchatError) -> None:
        """The request is answered with ``error``; its row is recorded without waiting. A
        refusal after admission, before any output, gives the charge back; any other
        failure is charged what was generated."""
        if self._is_ended or self._is_abandoned:
            return
        refunded = self._admission is not None and self._is_refused(error)
        if refunded:
            self._usage = Usage(prompt_tokens=0, completion_tokens=0)
        elif self._usage is self._admitted:  # no usage reported: what was seen generated
            self._usage = Usage(prompt_tokens=self._admitted.prompt_tokens,
                                completion_tokens=self._num_deltas)
        row = self._end(error.status, error.code)
        if row is None:
            return
        if isinstance(error, RateLimited):
            self._gateway.metrics.rejections.labels(self._label, error.code).inc()
        if isinstance(error, AuthenticationError):  # counted, not one row each (bounded)
            self._gateway.ledger.count_refusal(row, self._label)
        else:
            self._gateway.ledger.record(row)
        if self._admission is not None:
            self._gateway.spawn(self._settle(refund=refunded))

    def _is_refused(self, error: QwenchatError) -> bool:
        """Whether ``error`` refused the request without generating anything (engine queue
        full or its deadline in the queue, no model or replica to answer)."""
        return (isinstance(error, (ServerOverloaded, ModelUnavailable))
                and self._first_token is None and self._num_deltas == 0)

    def abandon(self, final_usage: Callable[[], Awaitable[Usage | None]] | None = None) -> None:
        """The client went away before the end: a 499 row. With ``final_usage`` (what the
        generation counted once stopped), the row and the charge of the tokens generated
        wait for it in the background, so leaving early does not escape the limits."""
        if self._is_ended or self._is_abandoned:
            return
        if final_usage is None:  # gone before the stream started: nothing was generated
            row = self._end(CLIENT_CLOSED, "client_closed_request")
            if row is not None:
                if self._admission is not None:
                    self._gateway.spawn(self._settle())
                self._gateway.ledger.record(row)
            return
        self._is_abandoned = True
        self._gateway.spawn(self._settle_abandoned(final_usage))

    async def _settle_abandoned(self, final_usage: Callable[[], Awaitable[Usage | None]]
                                ) -> None:
        usage = await final_usage()
        if usage is not None:
            self._usage = usage
        elif self._usage is self._admitted:
            self._usage = Usage(prompt_tokens=self._admitted.prompt_tokens,
                                completion_tokens=self._num_deltas)
        row = self._end(CLIENT_CLOSED, "client_closed_request")
        if row is not None:
            await self._settle()
            self._gateway.ledger.record(row)

    async def _settle(self, *, refund: bool = False) -> None:
        """Settle the admission's charge to the tokens used (an upstream counts the prompt
        itself, so its count replaces the estimate), or give it all back."""
        if self._admission is None:
            return
        if refund:
            await self._gateway.refund(self._rules, self._admission)
        else:
            usage = self._usage
            await self._gateway.settle(self._rules, self._admission,
                                       usage.prompt_tokens + usage.completion_tokens)

    def _end(self, status: int, code: str | None) -> UsageRow | None:
        """The row of this request, once (None if it has already ended); metrics."""
        if self._is_ended:
            return None
        self._is_ended = True
        if self._holds_key and self.key is not None:
            self._gateway.let_go(self.key)
        now = time.perf_counter()
        duration = now - self._started
        ttft = None if self._first_token is None else self._first_token - self._started
        self._count(status, code, duration, ttft)
        usage = self._usage
        return UsageRow(
            created_at=self._created, request_id=self.request_id,
            key_id=self.key.id if self.key else None, model=self.model,
            deployment=self.deployment, stream=self.stream, status=status, error_code=code,
            finish_reason=self._finish_reason if status == 200 else None,
            prompt_tokens=usage.prompt_tokens, cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens, reasoning_tokens=usage.reasoning_tokens,
            ttft_ms=None if ttft is None else ttft * 1000, duration_ms=duration * 1000,
        )

    def _count(self, status: int, code: str | None, duration: float,
               ttft: float | None) -> None:
        metrics, model = self._gateway.metrics, self._label
        if self._is_open:
            metrics.in_progress.labels(model).dec()
        metrics.requests.labels(model, str(status), code or "").inc()
        metrics.duration.labels(model).observe(duration)
        if ttft is not None:
            metrics.ttft.labels(model).observe(ttft)
        if status == 200:
            usage = self._usage
            for kind, count in (("prompt", usage.prompt_tokens),
                                ("completion", usage.completion_tokens),
                                ("cached", usage.cached_tokens),
                                ("reasoning", usage.reasoning_tokens)):
                metrics.tokens.labels(model, kind).inc(count)

"""``Ticket``: one chat request's passage through the gateway, from key to ledger row.

The api layer calls, in order: :meth:`authenticate` (401), :meth:`route` once the model is
known (403 for a key that may not use it), :meth:`admit` with the prompt's token count and
the most the request may generate (429 from the key's cap on requests in flight, the rate
limits and quota), :meth:`observe` for every ChatEvent, and ends with exactly one of
:meth:`complete` (awaited before the response's final frame: the row is then committed),
:meth:`fail` (an error answer) or :meth:`abandon` (the client left).

A ticket is handed everything it uses (see :meth:`Gateway.ticket`): the authenticator, the
:class:`~qwenchat.gateway.budget.Budget` it is admitted against, the ledger, the metrics
and a way to run work in the background.

Admission reserves the prompt and the whole possible output against the token windows and
the quota, so concurrent requests cannot overshoot them; the end settles the charge to what
was used (the usage reported, else the prompt and one token per generated delta seen). A
request refused after admission without generating anything (queue full, its deadline in
the queue, no model or replica to answer: a 503) gets its whole charge back, request
included.

The end has one owner, :meth:`Ticket._end`: the first of complete / fail / abandon decides
the request's :class:`Outcome`, and every later call changes nothing. The end lets go of
the key's in-flight place, records metrics and the row, and settles the charge. A complete
response's settling and commit are awaited by :meth:`complete`; every other end records its
row at once and settles in the background, except an abandoned generation's, whose row
waits there for the usage the generation counted once stopped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from qwenchat.core import ChatEvent, ContentDelta, Finish, ReasoningDelta, ToolCallDelta, Usage
from qwenchat.errors import (
    AccessDenied,
    AuthenticationError,
    ModelUnavailable,
    QwenchatError,
    RateLimited,
    ServerOverloaded,
)
from qwenchat.gateway.auth import Authenticator
from qwenchat.gateway.budget import Budget
from qwenchat.gateway.keys import ApiKey
from qwenchat.gateway.ledger import Ledger, UsageRow
from qwenchat.gateway.limits import Admission, Rule
from qwenchat.gateway.metrics import GatewayMetrics

CLIENT_CLOSED = 499  # nginx's status for a client that went away
CLIENT_CLOSED_CODE = "client_closed_request"

FinalUsage = Callable[[], Awaitable[Usage | None]]
"""What a generation counted once it stopped (None: it cannot say)."""

Spawn = Callable[[Coroutine[Any, Any, None]], None]
"""Runs work in the background, kept until it is done."""


class Outcome(str, Enum):
    """How a request ended."""

    COMPLETE = "complete"    # the whole response was sent
    FAILED = "failed"        # it was answered with an error
    ABANDONED = "abandoned"  # the client went away first


@dataclass(frozen=True, slots=True)
class _Ending:
    """A request's end as decided: its outcome, its row's status and error code, the error
    answered, and whether the whole charge goes back (refused before any output)."""

    outcome: Outcome
    status: int
    code: str | None = None
    error: QwenchatError | None = None
    refund: bool = False


class Ticket:
    """The gateway's view of one request; see the module docstring for the call order."""

    def __init__(self, request_id: str, *, stream: bool, authenticator: Authenticator,
                 budget: Budget, ledger: Ledger, metrics: GatewayMetrics,
                 spawn: Spawn) -> None:
        self._authenticator = authenticator
        self._budget = budget
        self._ledger = ledger
        self._metrics = metrics
        self._spawn = spawn
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
        self._prompt_tokens = 0
        self._reported: Usage | None = None
        self._rules: Sequence[Rule] = ()
        self._admission: Admission | None = None
        self._num_deltas = 0
        self._holds_key = False
        self._is_routed = False
        self._ending: _Ending | None = None

    @property
    def outcome(self) -> Outcome | None:
        """How the request ended (None while it is open)."""
        return None if self._ending is None else self._ending.outcome

    async def authenticate(self, authorization: str | None) -> None:
        """Find the caller's key (401 ``invalid_api_key`` if it is needed and not valid)."""
        self.key = await self._authenticator.authenticate(authorization)

    def route(self, model: str, deployment: str) -> None:
        """The request is for ``model``, served by ``deployment``; 403 if the key may not."""
        self.model, self.deployment, self._label = model, deployment, model
        if self.key is not None and not self.key.allows(model):
            raise AccessDenied(f"The API key may not use the model `{model}`.")
        self._metrics.in_progress.labels(model).inc()
        self._is_routed = True

    def name_model(self, model: str, *, is_served: bool) -> None:
        """The model a request refused before :meth:`route` asked for (for its row)."""
        self.model = model
        if is_served:
            self._label = model

    async def admit(self, prompt_tokens: int, max_output_tokens: int = 0) -> None:
        """Hold one of the key's in-flight places, then check the rate limits and quota and
        charge them the request and ``prompt_tokens + max_output_tokens``; 429 if any
        refuses."""
        self._holds_key = self._budget.hold(self.key)
        rules = await self._budget.rules_for(self.key, self.model)
        if rules:
            self._admission = await self._budget.admit(rules, prompt_tokens + max_output_tokens)
            self._rules = rules
        self._prompt_tokens = prompt_tokens

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
            self._reported = event

    async def complete(self) -> None:
        """The response is whole: charge, record and wait until the row is committed."""
        commit = self._end(_Ending(Outcome.COMPLETE, 200))
        if commit is not None:
            await commit

    def fail(self, error: QwenchatError) -> None:
        """The request is answered with ``error``; its row is recorded without waiting. A
        refusal after admission, before any output, gives the charge back; any other
        failure is charged what was generated."""
        refund = self._admission is not None and self._is_refused(error)
        self._end(_Ending(Outcome.FAILED, error.status, error.code, error=error,
                          refund=refund))

    def abandon(self, final_usage: FinalUsage | None = None) -> None:
        """The client went away before the end: a 499 row. With ``final_usage`` (what the
        generation counted once stopped), the row and the charge of the tokens generated
        wait for it in the background, so leaving early does not escape the limits."""
        self._end(_Ending(Outcome.ABANDONED, CLIENT_CLOSED, CLIENT_CLOSED_CODE), final_usage)

    def _is_refused(self, error: QwenchatError) -> bool:
        """Whether ``error`` refused the request without generating anything (engine queue
        full or its deadline in the queue, no model or replica to answer)."""
        return (isinstance(error, (ServerOverloaded, ModelUnavailable))
                and self._first_token is None and self._num_deltas == 0)

    def _end(self, ending: _Ending, final_usage: FinalUsage | None = None
             ) -> Coroutine[Any, Any, None] | None:
        """End the request as ``ending`` unless it has ended already: the one place an end
        is decided, so the first call wins and any later one changes nothing.

        With ``final_usage``, the rest waits in the background for the usage the stopped
        generation counted. Otherwise the row is made now; a complete response returns the
        settling of its charge and the commit of its row, for :meth:`complete` to await,
        and any other end records its row at once and settles in the background.
        """
        if self._ending is not None:
            return None
        self._ending = ending
        if final_usage is not None:
            self._spawn(self._end_when_stopped(ending, final_usage))
            return None
        used = self._used(ending)
        row = self._close(ending, used)
        if ending.outcome is Outcome.COMPLETE:
            return self._commit(ending, row, used)
        self._record(ending, row)
        if self._admission is not None:
            self._spawn(self._settle(ending, used))
        return None

    async def _end_when_stopped(self, ending: _Ending, final_usage: FinalUsage) -> None:
        used = self._used(ending, await final_usage())
        row = self._close(ending, used)
        await self._settle(ending, used)
        self._record(ending, row)

    async def _commit(self, ending: _Ending, row: UsageRow, used: Usage) -> None:
        await self._settle(ending, used)
        await self._ledger.record_durably(row)

    def _used(self, ending: _Ending, final: Usage | None = None) -> Usage:
        """What the request is charged and recorded with: nothing for a refusal, else the
        usage the generation counted or reported, else the prompt and one token per
        generated delta seen."""
        if ending.refund:
            return Usage(prompt_tokens=0, completion_tokens=0)
        if final is not None:
            return final
        if self._reported is not None:
            return self._reported
        return Usage(prompt_tokens=self._prompt_tokens, completion_tokens=self._num_deltas)

    async def _settle(self, ending: _Ending, used: Usage) -> None:
        """Settle the admission's charge to the tokens ``used`` (an upstream counts the
        prompt itself, so its count replaces the estimate), or give it all back."""
        if self._admission is None:
            return
        if ending.refund:
            await self._budget.refund(self._rules, self._admission)
        else:
            await self._budget.settle(self._rules, self._admission,
                                      used.prompt_tokens + used.completion_tokens)

    def _record(self, ending: _Ending, row: UsageRow) -> None:
        """Hand the row of a request that did not complete to the ledger, without waiting."""
        error = ending.error
        if isinstance(error, RateLimited):
            self._metrics.rejections.labels(self._label, error.code).inc()
        if isinstance(error, AuthenticationError):  # counted, not one row each (bounded)
            self._ledger.count_refusal(row, self._label)
        else:
            self._ledger.record(row)

    def _close(self, ending: _Ending, used: Usage) -> UsageRow:
        """Let go of the key's in-flight place, count the end in the metrics, and make the
        request's row."""
        if self._holds_key and self.key is not None:
            self._budget.let_go(self.key)
        duration = time.perf_counter() - self._started
        ttft = None if self._first_token is None else self._first_token - self._started
        self._count(ending, used, duration, ttft)
        is_complete = ending.outcome is Outcome.COMPLETE
        return UsageRow(
            created_at=self._created, request_id=self.request_id,
            key_id=self.key.id if self.key else None, model=self.model,
            deployment=self.deployment, stream=self.stream, status=ending.status,
            error_code=ending.code, finish_reason=self._finish_reason if is_complete else None,
            prompt_tokens=used.prompt_tokens, cached_tokens=used.cached_tokens,
            completion_tokens=used.completion_tokens, reasoning_tokens=used.reasoning_tokens,
            ttft_ms=None if ttft is None else ttft * 1000, duration_ms=duration * 1000,
        )

    def _count(self, ending: _Ending, used: Usage, duration: float,
               ttft: float | None) -> None:
        metrics, model = self._metrics, self._label
        if self._is_routed:
            metrics.in_progress.labels(model).dec()
        metrics.requests.labels(model, str(ending.status), ending.code or "").inc()
        metrics.duration.labels(model).observe(duration)
        if ttft is not None:
            metrics.ttft.labels(model).observe(ttft)
        if ending.outcome is Outcome.COMPLETE:
            for kind, count in (("prompt", used.prompt_tokens),
                                ("completion", used.completion_tokens),
                                ("cached", used.cached_tokens),
                                ("reasoning", used.reasoning_tokens)):
                metrics.tokens.labels(model, kind).inc(count)

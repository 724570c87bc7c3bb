"""Rate limits and quotas with DashScope's semantics, and the in-process limit store.

A request is checked against :class:`Rule` s, each a limit on one counter over one window:

* per key and model, and per model for all keys together: requests per minute and tokens
  per minute, each also per second (``ceil(limit / 60)``, at least 1) so bursts are
  throttled even under the minute budget;
* per key over all models together, the same two (a key's budget an alias or a second
  model id cannot add to);
* per key: a lifetime token quota (``window`` None).

:meth:`LimitStore.admit` checks every rule and, only if all pass, charges them at once
(requests 1, tokens the request's reservation: its prompt and the most it may generate),
and hands back an :class:`Admission` naming the slot it was charged in. At the end the
charge is settled to what was really used: :meth:`LimitStore.release` takes the unused
part back out of that same slot (or the whole charge, request included, for a request
refused after admission), :meth:`LimitStore.charge` adds any excess now. A refusal names
the dimension (requests -> ``limit_requests``, tokens or quota -> ``insufficient_quota``)
and when to retry: the moment every refusing window admits again, or never for a spent
quota. A quota counter the store does not hold (first use, or a Redis restarted empty) is
answered :class:`Unseeded`: the gateway seeds it from the ledger and asks again.

:class:`MemoryLimits` keeps the counters in this process (exact for one gateway, under the
event loop's single thread); ``RedisLimits`` shares them between gateways.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from qwenchat.gateway.windows import MINUTE, SECOND, SlotCounter, per_second, slot_of


class Dimension(str, Enum):
    """What a rule counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"


@dataclass(frozen=True, slots=True)
class Rule:
    """Less than ``limit`` on ``counter`` within ``window`` seconds (None: ever)."""

    counter: str
    dimension: Dimension
    limit: int
    window: float | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not admitted; ``retry_after`` None: it will not be (quota)."""

    dimension: Dimension
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted request's charge: ``tokens`` recorded in window slot ``slot``."""

    slot: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Unseeded:
    """Nothing was checked: the store does not hold quota counter ``counter`` yet."""

    counter: str


def rate_rules(scope: str, rpm: int | None, tpm: int | None) -> list[Rule]:
    """The minute and second windows of ``rpm`` and ``tpm`` on ``scope``'s counters."""
    rules: list[Rule] = []
    for dimension, per_minute in ((Dimension.REQUESTS, rpm), (Dimension.TOKENS, tpm)):
        if per_minute:
            counter = f"{scope}:{dimension.value}"
            rules.append(Rule(counter, dimension, per_minute, MINUTE))
            rules.append(Rule(counter, dimension, per_second(per_minute), SECOND))
    return rules


def quota_rule(key_id: str, quota_tokens: int | None) -> list[Rule]:
    """A key's lifetime token quota, if it has one."""
    if quota_tokens is None:
        return []
    return [Rule(quota_counter(key_id), Dimension.TOKENS, quota_tokens, None)]


QUOTA_PREFIX = "quota:"


def quota_counter(key_id: str) -> str:
    return f"{QUOTA_PREFIX}{key_id}"


def refusal(failed: Sequence[tuple[Rule, float | None]]) -> Refusal:
    """The one refusal for the rules that did not pass, each with its own wait."""
    requests = any(rule.dimension is Dimension.REQUESTS for rule, _ in failed)
    waits = [wait for _, wait in failed]
    retry_after = None if any(w is None for w in waits) else max(w for w in waits if w is not None)
    return Refusal(Dimension.REQUESTS if requests else Dimension.TOKENS, retry_after)


class LimitStore(Protocol):
    """Where counters live: in process or in Redis."""

    async def admit(self, rules: Sequence[Rule],
                    tokens: int) -> Admission | Refusal | Unseeded:
        """Check every rule; if all pass, charge them (requests 1, tokens ``tokens``)."""

    async def charge(self, rules: Sequence[Rule], tokens: int) -> None:
        """Add ``tokens`` now to the token counters among ``rules`` (usage beyond the
        reservation)."""

    async def release(self, rules: Sequence[Rule], admission: Admission, *,
                      requests: int, tokens: int) -> None:
        """Take ``requests`` and ``tokens`` back out of the slot ``admission`` charged
        (never below zero; nothing for a slot or quota counter no longer held)."""

    async def has_quota(self, counter: str) -> bool:
        """Whether a quota counter is known (else it is seeded from the ledger)."""

    async def seed_quota(self, counter: str, used: int) -> None:
        """Set a quota counter's starting value unless it is already known."""

    async def close(self) -> None:
        """Release connections."""


_SWEEP_EVERY = 10_000


class MemoryLimits:
    """Counters in this process: exact for one gateway."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, SlotCounter] = {}
        self._quotas: dict[str, int] = {}
        self._num_admits = 0

    async def admit(self, rules: Sequence[Rule],
                    tokens: int) -> Admission | Refusal | Unseeded:
        now = self._clock()
        for rule in rules:
            if rule.window is None and rule.counter not in self._quotas:
                return Unseeded(rule.counter)
        failed = [(rule, wait) for rule in rules
                  if (wait := self._wait(rule, now)) is None or wait > 0]
        if failed:
            return refusal(failed)
        for counter, dimension, window in _distinct(rules):
            self._add(counter, 1 if dimension is Dimension.REQUESTS else tokens, window, now)
        self._num_admits += 1
        if self._num_admits % _SWEEP_EVERY == 0:
            self._sweep(now)
        return Admission(slot_of(now), tokens)

    async def charge(self, rules: Sequence[Rule], tokens: int) -> None:
        now = self._clock()
        for counter, dimension, window in _distinct(rules):
            if dimension is Dimension.TOKENS and tokens:
                self._add(counter, tokens, window, now)

    async def release(self, rules: Sequence[Rule], admission: Admission, *,
                      requests: int, tokens: int) -> None:
        for counter, dimension, window in _distinct(rules):
            amount = requests if dimension is Dimension.REQUESTS else tokens
            if amount <= 0:
                continue
            if window is None:
                if counter in self._quotas:
                    self._quotas[counter] = max(0, self._quotas[counter] - amount)
            elif (slots := self._windows.get(counter)) is not None:
                slots.remove(amount, admission.slot)

    async def has_quota(self, counter: str) -> bool:
        return counter in self._quotas

    async def seed_quota(self, counter: str, used: int) -> None:
        self._quotas.setdefault(counter, used)

    async def close(self) -> None:
        self._windows.clear()

    def _wait(self, rule: Rule, now: float) -> float | None:
        """0 if ``rule`` passes, else seconds until it does (None: never)."""
        if rule.window is None:
            return 0.0 if self._quotas.get(rule.counter, 0) < rule.limit else None
        counter = self._windows.get(rule.counter)
        if counter is None or counter.used(rule.window, now) < rule.limit:
            return 0.0
        return counter.retry_after(rule.window, rule.limit, now)

    def _sweep(self, now: float) -> None:
        """Drop the counters of keys and models that have gone quiet."""
        idle = [name for name, counter in self._windows.items()
                if counter.used(MINUTE, now) == 0]
        for name in idle:
            del self._windows[name]

    def _add(self, counter: str, amount: int, window: float | None, now: float) -> None:
        if window is None:
            if counter in self._quotas:  # else it is seeded from the ledger when next used
                self._quotas[counter] += amount
        else:
            self._windows.setdefault(counter, SlotCounter()).add(amount, now)


def _distinct(rules: Sequence[Rule]) -> list[tuple[str, Dimension, float | None]]:
    """Each counter once (a minute and a second rule share one), with its kind."""
    seen: dict[str, tuple[str, Dimension, float | None]] = {}
    for rule in rules:
        seen.setdefault(rule.counter, (rule.counter, rule.dimension, rule.window))
    return list(seen.values())

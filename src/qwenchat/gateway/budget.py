"""``Budget``: what a request may spend, checked at admission and settled at its end.

It holds the rate-limit settings: per key and model (``gateway.key_rpm`` / ``key_tpm``,
overridden by each key's own), per key over all models (each key's ``total_rpm`` /
``total_tpm``), per model for all keys (``[models."<id>"] rpm`` / ``tpm``), and each key's
quota, whose counter is seeded from the key's total in the ledger whenever the store does
not hold it (first use, or a Redis restarted empty). An alias is limited as the id it
names, so it adds nothing to anyone's budget.

It also counts each key's requests in flight in this process
(``gateway.key_max_in_flight``, overridden by each key's ``max_in_flight``), so one key
cannot fill every engine slot and the whole queue. With several servers, each counts its
own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from qwenchat.errors import QuotaExceeded, QwenchatError, RateLimited
from qwenchat.gateway.keys import ApiKey
from qwenchat.gateway.limits import (
    QUOTA_PREFIX,
    Admission,
    Dimension,
    LimitStore,
    Rule,
    Unseeded,
    quota_rule,
    rate_rules,
)
from qwenchat.gateway.usage_report import used_tokens

_log = logging.getLogger("qwenchat.gateway")


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests and tokens per minute (0: no limit)."""

    rpm: int = 0
    tpm: int = 0


class Budget:
    """The limits every request is admitted against, and each key's requests in flight."""

    def __init__(self, limits: LimitStore, database: Engine, *,
                 key_limits: RateLimits = RateLimits(),
                 model_limits: Mapping[str, RateLimits] | None = None,
                 aliases: Mapping[str, str] | None = None,
                 key_max_in_flight: int = 0) -> None:
        self.limits = limits
        self._database = database  # the ledger a quota counter is seeded from
        self._key_limits = key_limits
        self._model_limits = dict(model_limits or {})
        self._aliases = dict(aliases or {})
        self._key_max_in_flight = key_max_in_flight
        self._in_flight: dict[str, int] = {}

    def canonical(self, model: str) -> str:
        """The id an alias names (``model`` itself for any other id)."""
        return self._aliases.get(model, model)

    async def rules_for(self, key: ApiKey | None, model: str) -> list[Rule]:
        """Every limit a request of ``key`` for ``model`` (an alias: the id it names) is
        checked against."""
        model = self.canonical(model)
        model_limits = self._model_limits.get(model, RateLimits())
        rules = rate_rules(f"model:{model}", model_limits.rpm, model_limits.tpm)
        if key is not None:
            rpm = key.rpm if key.rpm is not None else self._key_limits.rpm
            tpm = key.tpm if key.tpm is not None else self._key_limits.tpm
            rules += rate_rules(f"key:{key.id}:{model}", rpm, tpm)
            rules += rate_rules(f"key-total:{key.id}", key.total_rpm, key.total_tpm)
            rules += quota_rule(key.id, key.quota_tokens)
        return rules

    def hold(self, key: ApiKey | None) -> bool:
        """Count one more request of ``key`` in flight (True), or raise 429
        ``limit_requests`` if it already has its cap open; False for no key."""
        if key is None:
            return False
        cap = key.max_in_flight if key.max_in_flight is not None else self._key_max_in_flight
        open_now = self._in_flight.get(key.id, 0)
        if cap and open_now >= cap:
            raise RateLimited(f"The API key already has {cap} requests in flight; "
                              "wait for one to end.", retry_after=1.0)
        self._in_flight[key.id] = open_now + 1
        return True

    def let_go(self, key: ApiKey) -> None:
        """One request of ``key`` counted by :meth:`hold` has ended."""
        left = self._in_flight.get(key.id, 0) - 1
        if left > 0:
            self._in_flight[key.id] = left
        else:
            self._in_flight.pop(key.id, None)

    def in_flight(self, key_id: str) -> int:
        """Requests of the key ``key_id`` open in this process now."""
        return self._in_flight.get(key_id, 0)

    async def admit(self, rules: Sequence[Rule], tokens: int) -> Admission:
        """Check ``rules`` and charge them ``tokens`` (429 if one refuses); a quota counter
        the store does not hold is seeded from the ledger first."""
        for _ in range(3):  # a Redis emptied between seeding and admitting: seed again
            result = await self.limits.admit(rules, tokens)
            if isinstance(result, Admission):
                return result
            if isinstance(result, Unseeded):
                await self._seed_quota(result.counter)
                continue
            if result.dimension is Dimension.REQUESTS:
                raise RateLimited(retry_after=result.retry_after)
            raise QuotaExceeded(retry_after=result.retry_after)
        raise RateLimited("The rate-limit store lost its counters; try again.")

    async def settle(self, rules: Sequence[Rule], admission: Admission, used: int) -> None:
        """Settle an admitted request's token charge to ``used``: give back the unused
        reservation (from the slot it was charged in), or charge the excess now.

        The answer has been generated by now: a store that fails here is logged, and the
        response and its ledger row go ahead (the quota seeds from the ledger next time).
        """
        extra = used - admission.tokens
        try:
            if extra > 0:
                await self.limits.charge(rules, extra)
            elif extra < 0:
                await self.limits.release(rules, admission, requests=0, tokens=-extra)
        except QwenchatError as exc:
            _log.warning("a request's tokens were not settled in the rate limits: %s",
                         exc.message)

    async def refund(self, rules: Sequence[Rule], admission: Admission) -> None:
        """Give a request refused after admission its whole charge back (request and
        tokens)."""
        try:
            await self.limits.release(rules, admission, requests=1, tokens=admission.tokens)
        except QwenchatError as exc:
            _log.warning("a refused request's charge was not given back: %s", exc.message)

    async def close(self) -> None:
        """Release the limit store's connections."""
        await self.limits.close()

    async def _seed_quota(self, counter: str) -> None:
        """Start a quota counter from its key's total in the ledger, unless another request
        (or gateway) has seeded it meanwhile."""
        key_id = counter.removeprefix(QUOTA_PREFIX)
        used = await asyncio.to_thread(used_tokens, self._database, key_id)
        await self.limits.seed_quota(counter, used)

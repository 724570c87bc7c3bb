"""``Gateway``: keys, limits, ledger and metrics of one server, built from its settings.

The server makes one at start-up (:meth:`Gateway.open`) and a :class:`Ticket` per chat
request (:meth:`Gateway.ticket`). It holds the rate-limit settings: per key and model
(``gateway.key_rpm`` / ``key_tpm``, overridden by each key's own), per model for all keys
(``[models."<id>"] rpm`` / ``tpm``), and each key's quota, whose counter starts from the
key's total in the ledger the first time the key is seen.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from qwenchat.errors import AuthenticationError, QwenchatError
from qwenchat.gateway.auth import (
    Authenticator,
    AuthMode,
    bearer_token,
    check_bind,
    is_loopback,
)
from qwenchat.gateway.database import open_database
from qwenchat.gateway.journal import Journal
from qwenchat.gateway.keys import ApiKey, KeyStore
from qwenchat.gateway.ledger import Ledger
from qwenchat.gateway.limits import (
    LimitStore,
    MemoryLimits,
    Rule,
    quota_counter,
    quota_rule,
    rate_rules,
)
from qwenchat.gateway.metrics import GatewayMetrics
from qwenchat.gateway.ticket import Ticket
from qwenchat.gateway.usage_report import used_tokens
from qwenchat.settings import Settings

_log = logging.getLogger("qwenchat.gateway")

JOURNAL_NAME = "ledger-journal.jsonl"
"""The usage ledger's journal, in ``QWENCHAT_HOME`` (see :mod:`qwenchat.gateway.journal`)."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests and tokens per minute (0: no limit)."""

    rpm: int = 0
    tpm: int = 0


class Gateway:
    """What stands between a request and a model: who, how fast, how much, what was used."""

    def __init__(self, *, database: Engine, authenticator: Authenticator, limits: LimitStore,
                 metrics: GatewayMetrics, key_limits: RateLimits = RateLimits(),
                 model_limits: Mapping[str, RateLimits] | None = None,
                 admin_key: str = "", journal: Journal | None = None) -> None:
        self.database = database
        self.authenticator = authenticator
        self.limits = limits
        self.metrics = metrics
        self.ledger = Ledger(database, journal)
        self.admin_key = admin_key
        self._key_limits = key_limits
        self._model_limits = dict(model_limits or {})
        self._seeded: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def open(cls, settings: Settings) -> Gateway:
        """The gateway ``settings`` describe (database migrated, Redis if configured)."""
        config = settings.gateway
        mode = AuthMode(config.auth)
        warning = check_bind(mode, settings.server.host, force=config.allow_public_without_auth)
        if warning is not None:
            _log.warning(warning)
        database = open_database(settings.database_url())
        limits: LimitStore = MemoryLimits()
        if config.redis:
            from qwenchat.gateway.redis_limits import RedisLimits
            limits = RedisLimits(config.redis)
        keys, public = KeyStore(database), not is_loopback(settings.server.host)
        authenticator = Authenticator(keys, mode=mode, region=config.region, public=public,
                                      cache_seconds=config.key_cache_seconds)
        needs_keys = mode is AuthMode.REQUIRED or (mode is AuthMode.AUTO and public)
        if needs_keys and not keys.has_active_keys():
            _log.warning("API keys are required and none exists yet: every request gets 401 "
                         "until one is made with `qwenchat keys create --name NAME`")
        model_limits = {model_id: RateLimits(override.rpm, override.tpm)
                        for model_id, override in settings.models.items()}
        return cls(database=database, authenticator=authenticator, limits=limits,
                   metrics=GatewayMetrics(), admin_key=config.admin_key,
                   key_limits=RateLimits(config.key_rpm, config.key_tpm),
                   model_limits=model_limits,
                   journal=Journal(settings.home / JOURNAL_NAME))

    def check_admin(self, authorization: str | None) -> None:
        """Allow an admin request (``/metrics``): 401 unless no admin key is set or the header
        carries it (compared in constant time)."""
        if not self.admin_key:
            return
        token = bearer_token(authorization) or ""
        if not hmac.compare_digest(token.encode(), self.admin_key.encode()):
            raise AuthenticationError()

    def ticket(self, request_id: str, *, stream: bool = False) -> Ticket:
        """A new request's ticket."""
        return Ticket(self, request_id, stream=stream)

    async def rules_for(self, key: ApiKey | None, model: str) -> list[Rule]:
        """Every limit a request of ``key`` for ``model`` is checked against."""
        model_limits = self._model_limits.get(model, RateLimits())
        rules = rate_rules(f"model:{model}", model_limits.rpm, model_limits.tpm)
        if key is not None:
            rpm = key.rpm if key.rpm is not None else self._key_limits.rpm
            tpm = key.tpm if key.tpm is not None else self._key_limits.tpm
            rules += rate_rules(f"key:{key.id}:{model}", rpm, tpm)
            if key.quota_tokens is not None:
                await self._seed_quota(key.id)
                rules += quota_rule(key.id, key.quota_tokens)
        return rules

    async def charge(self, rules: Sequence[Rule], completion_tokens: int) -> None:
        """Add a finished request's completion tokens to its token windows and quota.

        The answer has been generated by now: a store that fails here is logged, and the
        response and its ledger row go ahead (the quota seeds from the ledger next time).
        """
        if not rules or not completion_tokens:
            return
        try:
            await self.limits.charge(rules, completion_tokens)
        except QwenchatError as exc:
            _log.warning("completion tokens not charged to the rate limits: %s", exc.message)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background (kept referenced; awaited by :meth:`close`)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Finish background work, commit the ledger's last rows, release connections."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)
        await asyncio.to_thread(self.ledger.close)
        self.authenticator.close()
        await self.limits.close()
        self.database.dispose()

    async def _seed_quota(self, key_id: str) -> None:
        """Start the key's quota counter from the ledger, once per process."""
        counter = quota_counter(key_id)
        if counter in self._seeded:
            return
        if not await self.limits.has_quota(counter):
            used = await asyncio.to_thread(used_tokens, self.database, key_id)
            await self.limits.seed_quota(counter, used)
        self._seeded.add(counter)

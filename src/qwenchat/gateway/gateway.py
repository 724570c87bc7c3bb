"""``Gateway``: keys, limits, ledger and metrics of one server, built from its settings.

The server makes one at start-up (:meth:`Gateway.open`) and a :class:`Ticket` per chat
request (:meth:`Gateway.ticket`). It holds the rate-limit settings: per key and model
(``gateway.key_rpm`` / ``key_tpm``, overridden by each key's own), per model for all keys
(``[models."<id>"] rpm`` / ``tpm``), and each key's quota, whose counter starts from the
key's total in the ledger the first time the key is seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from qwenchat.gateway.auth import Authenticator, AuthMode, check_bind, is_loopback
from qwenchat.gateway.database import open_database
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
                 admin_key: str = "") -> None:
        self.database = database
        self.authenticator = authenticator
        self.limits = limits
        self.metrics = metrics
        self.ledger = Ledger(database)
        self.admin_key = admin_key
        self._key_limits = key_limits
        self._model_limits = dict(model_limits or {})

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
        authenticator = Authenticator(
            KeyStore(database), mode=mode, region=config.region,
            public=not is_loopback(settings.server.host),
            cache_seconds=config.key_cache_seconds)
        model_limits = {model_id: RateLimits(override.rpm, override.tpm)
                        for model_id, override in settings.models.items()}
        return cls(database=database, authenticator=authenticator, limits=limits,
                   metrics=GatewayMetrics(), admin_key=config.admin_key,
                   key_limits=RateLimits(config.key_rpm, config.key_tpm),
                   model_limits=model_limits)

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
        """Add a finished request's completion tokens to its token windows and quota."""
        if rules and completion_tokens:
            await self.limits.charge(rules, completion_tokens)

    async def close(self) -> None:
        """Commit the ledger's last rows and release connections."""
        await asyncio.to_thread(self.ledger.close)
        await self.limits.close()
        self.database.dispose()

    async def _seed_quota(self, key_id: str) -> None:
        counter = quota_counter(key_id)
        if not await self.limits.has_quota(counter):
            used = await asyncio.to_thread(used_tokens, self.database, key_id)
            await self.limits.seed_quota(counter, used)

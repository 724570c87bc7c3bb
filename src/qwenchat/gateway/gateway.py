"""``Gateway``: keys, limits, ledger and metrics of one server, built from its settings.

The server makes one at start-up (:meth:`Gateway.open`) and a :class:`Ticket` per chat
request (:meth:`Gateway.ticket`), handing the ticket what it uses: the authenticator, the
:class:`~qwenchat.gateway.budget.Budget` (rate limits, quotas, each key's requests in
flight), the ledger, the metrics and the gateway's background work, which :meth:`close`
waits for.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from sqlalchemy import Engine

from qwenchat.errors import AuthenticationError
from qwenchat.gateway.auth import (
    Authenticator,
    AuthMode,
    bearer_token,
    check_bind,
    is_loopback,
)
from qwenchat.gateway.budget import Budget, RateLimits
from qwenchat.gateway.database import open_database
from qwenchat.gateway.journal import Journal
from qwenchat.gateway.keys import KeyStore
from qwenchat.gateway.ledger import Ledger
from qwenchat.gateway.limits import LimitStore, MemoryLimits
from qwenchat.gateway.metrics import GatewayMetrics
from qwenchat.gateway.ticket import Ticket
from qwenchat.settings import Settings

_log = logging.getLogger("qwenchat.gateway")

JOURNAL_NAME = "ledger-journal.jsonl"
"""The usage ledger's journal, in ``QWENCHAT_HOME`` (see :mod:`qwenchat.gateway.journal`)."""


class Gateway:
    """What stands between a request and a model: who, how fast, how much, what was used."""

    def __init__(self, *, database: Engine, authenticator: Authenticator, limits: LimitStore,
                 metrics: GatewayMetrics, key_limits: RateLimits | None = None,
                 model_limits: Mapping[str, RateLimits] | None = None,
                 aliases: Mapping[str, str] | None = None, key_max_in_flight: int = 0,
                 admin_key: str = "", journal: Journal | None = None) -> None:
        self.database = database
        self.authenticator = authenticator
        self.budget = Budget(limits, database, key_limits=key_limits or RateLimits(),
                             model_limits=model_limits, aliases=aliases,
                             key_max_in_flight=key_max_in_flight)
        self.metrics = metrics
        self.ledger = Ledger(database, journal)
        self.admin_key = admin_key
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
                   model_limits=model_limits, aliases=settings.aliases,
                   key_max_in_flight=config.key_max_in_flight,
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
        """A new request's ticket, handed the gateway's parts it uses."""
        return Ticket(request_id, stream=stream, authenticator=self.authenticator,
                      budget=self.budget, ledger=self.ledger, metrics=self.metrics,
                      spawn=self.spawn)

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
        await self.budget.close()
        self.database.dispose()

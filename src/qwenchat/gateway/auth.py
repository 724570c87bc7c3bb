"""Who is calling: the auth modes and the API-key check.

Modes: ``none`` (nobody is asked for a key; refused on a non-loopback address unless
forced), ``required``, and the default ``auto``: keys are required as soon as one active key
exists, or whenever the server listens beyond loopback. When keys are not required, any
``Authorization`` header is ignored (the OpenAI SDK always sends one).

A key is accepted when it exists, is not revoked, has not expired and belongs to this
server's region; every refusal is the same 401 ``invalid_api_key``, whose message never
repeats the key. Lookups are cached for ``cache_seconds`` (default 1 s), so a key created,
revoked or rotated with ``qwenchat keys`` takes effect within that time without a database
query per request.

The database may be slow or gone: a lookup that does not answer within ``lookup_timeout``
seconds (:data:`LOOKUP_TIMEOUT`) or fails is answered from the last lookup of that key
however old (so keys in use keep working through an outage, with revocation delayed until
the database answers again, and asked again only after ``cache_seconds``); a key never
seen is refused with 503 ``ModelUnavailable``, never left waiting. Whether keys exist at
all falls back the same way, to "required" when it was never known. Lookups run on
:data:`_NUM_LOOKUP_THREADS` threads of their own: lookups stuck on a database that never
answers cannot starve the worker threads chat requests use, and a lookup whose caller
stopped waiting is skipped rather than queued behind them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from qwenchat.errors import AuthenticationError, ConfigError, ModelUnavailable
from qwenchat.gateway.keys import ApiKey, KeyStore, hash_secret, utcnow

_MAX_CACHED = 10_000
_NUM_LOOKUP_THREADS = 4
LOOKUP_TIMEOUT = 2.0

_log = logging.getLogger("qwenchat.gateway")

T = TypeVar("T")


class AuthMode(str, Enum):
    """When a key is required."""

    AUTO = "auto"
    REQUIRED = "required"
    NONE = "none"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(mode: AuthMode, host: str, *, force: bool) -> str | None:
    """Refuse ``none`` on a public address unless forced; the warning to log, if any."""
    if mode is not AuthMode.NONE or is_loopback(host):
        return None
    if not force:
        raise ConfigError(
            f"auth = \"none\" on {host} would let anyone on the network use this server. "
            "Bind to 127.0.0.1, create a key (qwenchat keys create), or set "
            "gateway.allow_public_without_auth = true to do it anyway."
        )
    return f"serving on {host} without API keys: anyone who can reach it can use it"


class Authenticator:
    """Maps an ``Authorization`` header to the caller's key (None: no key needed)."""

    def __init__(self, keys: KeyStore, *, mode: AuthMode, region: str, public: bool,
                 cache_seconds: float = 1.0, lookup_timeout: float = LOOKUP_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._mode = mode
        self._region = region
        self._public = public
        self._ttl = cache_seconds
        self._lookup_timeout = lookup_timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._keys_exist: tuple[float, bool] | None = None
        self._threads = ThreadPoolExecutor(_NUM_LOOKUP_THREADS, "qwenchat-keys")

    def close(self) -> None:
        """Stop the lookup threads (without waiting for one stuck on the database)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The caller's key, None when keys are not required; 401 otherwise."""
        if not await self._is_required():
            return None
        secret = bearer_token(authorization)
        if secret is None:
            raise AuthenticationError()
        key = await self._lookup(secret)
        if (key is None or key.is_revoked or key.is_expired(utcnow())
                or key.region != self._region):
            raise AuthenticationError()
        return key

    async def _is_required(self) -> bool:
        if self._mode is AuthMode.NONE:
            return False
        if self._mode is AuthMode.REQUIRED or self._public:
            return True
        now = self._clock()
        if self._keys_exist is None or now - self._keys_exist[0] >= self._ttl:
            try:
                exist = await self._query(self._keys.has_active_keys)
            except ModelUnavailable:
                exist = True if self._keys_exist is None else self._keys_exist[1]
            self._keys_exist = (now, exist)
        return self._keys_exist[1]

    async def _lookup(self, secret: str) -> ApiKey | None:
        digest, now = hash_secret(secret), self._clock()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            key = await self._query(lambda: self._keys.find(secret))
        except ModelUnavailable:
            if cached is None:
                raise
            key = cached[1]  # the last answer, until the database answers again
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (now, key)
        return key

    async def _query(self, query: Callable[[], T]) -> T:
        """``query`` on a lookup thread, within the lookup bound; 503 if not."""
        deadline = time.monotonic() + self._lookup_timeout

        def run() -> T:
            if time.monotonic() > deadline:  # nobody waits for it any more
                raise TimeoutError
            return query()

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._threads, run),
                                          self._lookup_timeout)
        except (TimeoutError, SQLAlchemyError) as exc:
            _log.warning("API key lookup failed: %s", str(exc) or "timeout")
            raise ModelUnavailable(
                "The key database is not answering; try again shortly.") from exc


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None

"""Rate limits and quotas with DashScope's semantics, on both limit stores.

Each test runs on :class:`MemoryLimits` with a fake clock and on :class:`RedisLimits` with
the session's real Redis (shared by every test, so each test names its own counters). Redis
keeps time itself, so waits there are real and short: only a second window is waited out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import pytest
import redis
from harness.process import free_port
from harness.services import RedisServer

from qwenchat.errors import ModelUnavailable
from qwenchat.gateway.limits import (
    Admission,
    Dimension,
    LimitStore,
    MemoryLimits,
    Refusal,
    Rule,
    Unseeded,
    quota_counter,
    quota_rule,
    rate_rules,
)
from qwenchat.gateway.redis_limits import RedisLimits
from qwenchat.gateway.windows import MINUTE, SECOND

REQUESTS = Dimension.REQUESTS
TOKENS = Dimension.TOKENS


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Store:
    """Opens one limit store; ``clock`` None: real time (Redis's own clock)."""

    open: Callable[[], LimitStore]
    clock: FakeClock | None

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[LimitStore]:
        limits = self.open()
        try:
            yield limits
        finally:
            await limits.close()

    async def advance(self, seconds: float) -> None:
        if self.clock is None:
            await asyncio.sleep(seconds)
        else:
            self.clock.now += seconds


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        clock = FakeClock()
        return Store(lambda: MemoryLimits(clock), clock)
    server: RedisServer = request.getfixturevalue("redis_server")
    return Store(lambda: RedisLimits(server.url), None)


def unique(name: str) -> str:
    """A counter name no other test uses (Redis is shared by the whole session)."""
    return f"test-{name}-{uuid4().hex}"


def refused(result: Admission | Refusal | Unseeded) -> Refusal:
    assert isinstance(result, Refusal), f"{result}, expected a refusal"
    return result


def admitted(result: Admission | Refusal | Unseeded) -> Admission:
    assert isinstance(result, Admission), f"{result}, expected an admission"
    return result


def test_a_minute_limit_admits_exactly_its_limit_then_names_the_wait(store: Store) -> None:
    rules = [Rule(unique("rpm"), REQUESTS, 3, MINUTE)]

    async def scenario() -> None:
        async with store.opened() as limits:
            for _ in range(3):
                assert admitted(await limits.admit(rules, 0))
            refusal = refused(await limits.admit(rules, 0))
            assert refusal.dimension is REQUESTS
            assert refusal.retry_after is not None
            # The first request's slot leaves a minute after the slot's end.
            assert 59.0 < refusal.retry_after <= 60.1 + 1e-9

    asyncio.run(scenario())


def test_rpm_spaced_out_admits_exactly_rpm_in_a_minute_and_the_wait_is_exact() -> None:
    clock = FakeClock(1000.0)
    rules = rate_rules(unique("key"), rpm=5, tpm=None)  # also 1 per second

    async def scenario() -> None:
        limits = MemoryLimits(clock)
        for _ in range(5):
            assert admitted(await limits.admit(rules, 10))
            clock.now += 1.1
        refused_at = clock.now
        refusal = refused(await limits.admit(rules, 10))
        assert refusal.dimension is REQUESTS
        assert refusal.retry_after is not None
        elapsed = refused_at - 1000.0
        # Until the first request (at 1000.0, slot ending at 1000.1) leaves the minute.
        assert 60 - elapsed <= refusal.retry_after <= 60 - elapsed + 0.1 + 1e-9
        clock.now = refused_at + refusal.retry_after - 0.01
        assert refused(await limits.admit(rules, 10)).dimension is REQUESTS
        clock.now = refused_at + refusal.retry_after
        assert admitted(await limits.admit(rules, 10))
        await limits.close()

    asyncio.run(scenario())


def test_rpm_is_also_enforced_per_second(store: Store) -> None:
    rules = rate_rules(unique("key"), rpm=120, tpm=None)  # 2 per second

    async def scenario() -> None:
        async with store.opened() as limits:
            assert admitted(await limits.admit(rules, 0))
            assert admitted(await limits.admit(rules, 0))
            refusal = refused(await limits.admit(rules, 0))
            assert refusal.dimension is REQUESTS
            assert refusal.retry_after is not None
            assert 0.0 < refusal.retry_after <= 1.1 + 1e-9
            await store.advance(refusal.retry_after)
            assert admitted(await limits.admit(rules, 0))

    asyncio.run(scenario())


def test_tokens_count_the_prompt_at_admission_and_the_completion_when_charged(
        store: Store) -> None:
    rules = [Rule(unique("tpm"), TOKENS, 100, MINUTE)]

    async def scenario() -> None:
        async with store.opened() as limits:
            assert admitted(await limits.admit(rules, 40))   # 40
            await limits.charge(rules, 50)                 # 90
            assert admitted(await limits.admit(rules, 5))    # 95
            # Still under the limit when asked: served, though it crosses it.
            assert admitted(await limits.admit(rules, 10))   # 105
            refusal = refused(await limits.admit(rules, 1))
            assert refusal.dimension is TOKENS
            assert refusal.retry_after is not None
            assert 59.0 < refusal.retry_after <= 60.1 + 1e-9

    asyncio.run(scenario())


def test_tpm_is_also_enforced_per_second(store: Store) -> None:
    rules = rate_rules(unique("key"), rpm=None, tpm=6000)  # 100 tokens per second

    async def scenario() -> None:
        async with store.opened() as limits:
            assert admitted(await limits.admit(rules, 100))
            refusal = refused(await limits.admit(rules, 1))
            assert refusal.dimension is TOKENS
            assert refusal.retry_after is not None
            assert 0.0 < refusal.retry_after <= 1.1 + 1e-9
            await store.advance(refusal.retry_after)
            assert admitted(await limits.admit(rules, 1))

    asyncio.run(scenario())


def test_charge_adds_only_to_token_counters(store: Store) -> None:
    rules = [Rule(unique("rpm"), REQUESTS, 2, MINUTE)]

    async def scenario() -> None:
        async with store.opened() as limits:
            assert admitted(await limits.admit(rules, 0))
            await limits.charge(rules, 1000)
            assert admitted(await limits.admit(rules, 0))
            assert refused(await limits.admit(rules, 0)).dimension is REQUESTS

    asyncio.run(scenario())


def test_a_quota_admits_until_used_then_refuses_for_good(store: Store) -> None:
    key = unique("key")
    rules = quota_rule(key, 100)

    async def scenario() -> None:
        async with store.opened() as limits:
            await limits.seed_quota(quota_counter(key), 90)
            assert admitted(await limits.admit(rules, 5))    # 95
            assert admitted(await limits.admit(rules, 10))   # 105: it crossed, it is served
            assert await limits.admit(rules, 0) == Refusal(TOKENS, None)

    asyncio.run(scenario())


def test_a_quota_counts_charged_completion_tokens(store: Store) -> None:
    key = unique("key")
    rules = quota_rule(key, 50)

    async def scenario() -> None:
        async with store.opened() as limits:
            await limits.seed_quota(quota_counter(key), 0)
            assert admitted(await limits.admit(rules, 10))
            await limits.charge(rules, 39)                 # 49
            assert admitted(await limits.admit(rules, 0))
            await limits.charge(rules, 1)                  # 50
            assert await limits.admit(rules, 0) == Refusal(TOKENS, None)

    asyncio.run(scenario())


def test_no_quota_means_no_rule() -> None:
    assert quota_rule("key", None) == []


def test_seed_quota_sets_a_counter_only_if_it_is_unknown(store: Store) -> None:
    key = unique("key")
    counter = quota_counter(key)
    rules = quota_rule(key, 10)

    async def scenario() -> None:
        async with store.opened() as limits:
            assert not await limits.has_quota(counter)
            await limits.seed_quota(counter, 8)
            assert await limits.has_quota(counter)
            await limits.seed_quota(counter, 0)            # known: ignored
            assert admitted(await limits.admit(rules, 2))    # 8 -> 10
            assert await limits.admit(rules, 0) == Refusal(TOKENS, None)
            await limits.seed_quota(counter, 0)            # still ignored
            assert await limits.admit(rules, 0) == Refusal(TOKENS, None)

    asyncio.run(scenario())


def test_a_refused_admit_charges_nothing(store: Store) -> None:
    scope = unique("key")
    requests = Rule(f"{scope}:requests", REQUESTS, 1, MINUTE)
    tokens = Rule(f"{scope}:tokens", TOKENS, 60, MINUTE)
    quota = Rule(quota_counter(scope), TOKENS, 100, None)

    async def scenario() -> None:
        async with store.opened() as limits:
            await limits.seed_quota(quota.counter, 0)
            assert admitted(await limits.admit([requests], 0))
            refusal = refused(await limits.admit([requests, tokens, quota], 50))
            assert refusal.dimension is REQUESTS
            # Had the refused admit charged its 50 tokens, these would be refused.
            assert admitted(await limits.admit([tokens], 50))      # 50
            assert admitted(await limits.admit([tokens], 5))       # 55
            assert admitted(await limits.admit([quota], 60))       # 60
            assert admitted(await limits.admit([quota], 0))        # 60 < 100

    asyncio.run(scenario())


def test_several_rules_pass_together_and_each_counter_is_charged_once(store: Store) -> None:
    # Minute and second rules share one counter per dimension: 1 request, 60 tokens each.
    scope = unique("key")
    rules = rate_rules(scope, rpm=180, tpm=7200)  # 3 requests and 120 tokens per second

    async def scenario() -> None:
        async with store.opened() as limits:
            assert admitted(await limits.admit(rules, 60))
            assert admitted(await limits.admit(rules, 59))     # 2 requests, 119 tokens
            assert admitted(await limits.admit(rules, 0))      # 3 requests, 119 tokens
            refusal = refused(await limits.admit(rules, 0))
            assert refusal.dimension is REQUESTS
            tokens_only = rate_rules(scope, rpm=None, tpm=7200)
            assert admitted(await limits.admit(tokens_only, 1))  # 120 tokens
            assert refused(await limits.admit(tokens_only, 0)).dimension is TOKENS

    asyncio.run(scenario())


def test_a_refusal_names_requests_first_and_the_longest_wait(store: Store) -> None:
    scope = unique("key")
    per_second = Rule(f"{scope}:requests", REQUESTS, 1, SECOND)
    per_minute = Rule(f"{scope}:tokens", TOKENS, 10, MINUTE)
    quota = Rule(quota_counter(scope), TOKENS, 10, None)

    async def scenario() -> None:
        async with store.opened() as limits:
            await limits.seed_quota(quota.counter, 0)
            assert admitted(await limits.admit([per_second, per_minute, quota], 10))
            both = refused(await limits.admit([per_second, per_minute], 1))
            assert both.dimension is REQUESTS
            assert both.retry_after is not None
            assert 59.0 < both.retry_after <= 60.1 + 1e-9    # the minute's wait, not 1 s
            tokens = refused(await limits.admit([per_minute], 1))
            assert tokens.dimension is TOKENS
            assert await limits.admit([per_second, quota], 1) == Refusal(REQUESTS, None)
            assert await limits.admit([per_minute, quota], 1) == Refusal(TOKENS, None)

    asyncio.run(scenario())


def test_redis_admits_exactly_the_limit_to_concurrent_gateways(redis_server: RedisServer) -> None:
    # A minute window, so that however slowly the 40 requests arrive, 10 is the right answer.
    rules = [Rule(unique("shared"), REQUESTS, 10, MINUTE)]

    async def scenario() -> list[Admission | Refusal | Unseeded]:
        first, second = RedisLimits(redis_server.url), RedisLimits(redis_server.url)
        try:
            return await asyncio.gather(*(first.admit(rules, 0) for _ in range(20)),
                                        *(second.admit(rules, 0) for _ in range(20)))
        finally:
            await first.close()
            await second.close()

    results = asyncio.run(scenario())
    assert sum(isinstance(r, Admission) for r in results) == 10
    assert all(r.dimension is REQUESTS for r in results if isinstance(r, Refusal))


def test_redis_window_counters_expire_and_quota_counters_do_not(
        redis_server: RedisServer) -> None:
    scope = unique("key")
    rules = [*rate_rules(scope, rpm=60, tpm=600), *quota_rule(scope, 1000)]

    async def scenario() -> None:
        limits = RedisLimits(redis_server.url)
        try:
            await limits.seed_quota(quota_counter(scope), 0)
            assert admitted(await limits.admit(rules, 5))
            await limits.charge(rules, 5)
        finally:
            await limits.close()

    asyncio.run(scenario())
    with redis.Redis.from_url(redis_server.url) as client:
        for counter in (f"{scope}:requests", f"{scope}:tokens"):
            assert 0 < client.pttl(f"qwenchat:limits:{counter}") <= 60_100
        assert client.pttl(f"qwenchat:limits:{quota_counter(scope)}") == -1
        assert int(client.get(f"qwenchat:limits:{quota_counter(scope)}") or 0) == 10


def test_an_unreachable_redis_is_model_unavailable() -> None:
    rules = [*rate_rules("key", rpm=60, tpm=600), *quota_rule("key", 1000)]

    async def scenario() -> None:
        limits = RedisLimits(f"redis://127.0.0.1:{free_port()}/0")
        try:
            with pytest.raises(ModelUnavailable):
                await limits.admit(rules, 1)
            with pytest.raises(ModelUnavailable):
                await limits.charge(rules, 1)
            with pytest.raises(ModelUnavailable):
                await limits.has_quota(quota_counter("key"))
            with pytest.raises(ModelUnavailable):
                await limits.seed_quota(quota_counter("key"), 0)
        finally:
            await limits.close()

    asyncio.run(scenario())


def test_a_reservation_settled_for_less_gives_the_rest_back_to_its_window(store: Store) -> None:
    async def scenario() -> None:
        async with store.opened() as limits:
            rules = [Rule(unique("tpm"), TOKENS, 100, MINUTE)]
            reserved = admitted(await limits.admit(rules, 100))  # prompt + max output
            assert reserved.tokens == 100
            assert refused(await limits.admit(rules, 1)).dimension is TOKENS
            await limits.release(rules, reserved, requests=0, tokens=70)  # 30 really used
            for _ in range(70):
                assert admitted(await limits.admit(rules, 1))     # 30 + 70 = 100
            assert refused(await limits.admit(rules, 1)).dimension is TOKENS

    asyncio.run(scenario())


def test_a_request_refused_after_admission_gets_its_whole_charge_back(store: Store) -> None:
    async def scenario() -> None:
        async with store.opened() as limits:
            scope = unique("key")
            rules = [*rate_rules(scope, rpm=1, tpm=6000), *quota_rule(scope, 50)]
            await limits.seed_quota(quota_counter(scope), 0)
            charge = admitted(await limits.admit(rules, 50))
            assert refused(await limits.admit(rules, 1)).dimension is REQUESTS
            await limits.release(rules, charge, requests=1, tokens=charge.tokens)
            again = admitted(await limits.admit(rules, 50))       # requests, tokens, quota
            await limits.release(rules, again, requests=0, tokens=10)
            assert refused(await limits.admit(rules, 0)).dimension is REQUESTS
            await limits.release(rules, again, requests=1, tokens=0)
            assert admitted(await limits.admit(rules, 0))         # quota: 40 < 50

    asyncio.run(scenario())


def test_releasing_never_takes_a_counter_below_zero(store: Store) -> None:
    async def scenario() -> None:
        async with store.opened() as limits:
            rules = [Rule(unique("requests"), REQUESTS, 1, MINUTE)]
            first = admitted(await limits.admit(rules, 0))
            await limits.release(rules, first, requests=5, tokens=0)
            assert admitted(await limits.admit(rules, 0))
            assert refused(await limits.admit(rules, 0)).dimension is REQUESTS

    asyncio.run(scenario())


def test_an_unseeded_quota_is_named_and_nothing_is_charged(store: Store) -> None:
    async def scenario() -> None:
        async with store.opened() as limits:
            scope = unique("key")
            requests = Rule(f"{scope}:requests", REQUESTS, 1, MINUTE)
            rules = [requests, *quota_rule(scope, 100)]
            assert await limits.admit(rules, 5) == Unseeded(quota_counter(scope))
            await limits.seed_quota(quota_counter(scope), 99)
            assert admitted(await limits.admit(rules, 5))         # the request was not counted
            assert await limits.admit([*quota_rule(scope, 104)], 0) == Refusal(TOKENS, None)

    asyncio.run(scenario())


def test_charging_a_quota_the_store_lost_leaves_it_to_be_reseeded(store: Store) -> None:
    async def scenario() -> None:
        async with store.opened() as limits:
            scope = unique("key")
            rules = quota_rule(scope, 100)
            await limits.charge(rules, 30)   # settled after the counter was lost
            assert not await limits.has_quota(quota_counter(scope))
            assert await limits.admit(rules, 0) == Unseeded(quota_counter(scope))

    asyncio.run(scenario())

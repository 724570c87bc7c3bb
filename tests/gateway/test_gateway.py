"""The gateway's limit rules and request bookkeeping, in process on a real SQLite ledger: an
alias is limited as the id it names, a key-wide budget spans model ids, a key's requests in
flight are capped and each place is given back, and a quota the store lacks is seeded from
the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from qwenchat.core import Usage
from qwenchat.errors import QuotaExceeded, RateLimited, ServerOverloaded
from qwenchat.gateway.auth import Authenticator, AuthMode
from qwenchat.gateway.budget import RateLimits
from qwenchat.gateway.database import open_database
from qwenchat.gateway.gateway import Gateway
from qwenchat.gateway.keys import ApiKey, KeyStore
from qwenchat.gateway.ledger import UsageRow
from qwenchat.gateway.limits import MemoryLimits, Rule
from qwenchat.gateway.metrics import GatewayMetrics
from qwenchat.gateway.ticket import Outcome, Ticket

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    database = open_database(f"sqlite:///{tmp_path / 'gateway.db'}")
    authenticator = Authenticator(KeyStore(database), mode=AuthMode.NONE, region="local",
                                  public=False)
    gateway = Gateway(database=database, authenticator=authenticator,
                      limits=MemoryLimits(FakeClock()), metrics=GatewayMetrics(),
                      model_limits={"qwen-plus": RateLimits(rpm=600)},
                      aliases={"fast": "qwen-plus"}, key_max_in_flight=2)
    yield gateway
    asyncio.run(gateway.close())


def key(**limits: int | None) -> ApiKey:
    return ApiKey(id="key-1", name="ci", hint="sk-…abcd", region="local", created_at=NOW,
                  **limits)  # type: ignore[arg-type]


def counters(rules: list[Rule]) -> set[str]:
    return {rule.counter for rule in rules}


def test_an_alias_is_limited_as_the_id_it_names(gateway: Gateway) -> None:
    team = key(rpm=2, tpm=100)
    alias = asyncio.run(gateway.budget.rules_for(team, "fast"))
    target = asyncio.run(gateway.budget.rules_for(team, "qwen-plus"))
    assert alias == target
    assert "model:qwen-plus:requests" in counters(alias)


def test_a_key_wide_budget_is_one_counter_over_every_model(gateway: Gateway) -> None:
    team = key(total_rpm=3, total_tpm=1000)
    plus = counters(asyncio.run(gateway.budget.rules_for(team, "qwen-plus")))
    turbo = counters(asyncio.run(gateway.budget.rules_for(team, "qwen-turbo")))
    assert plus & turbo == {"key-total:key-1:requests", "key-total:key-1:tokens"}


def test_a_key_holds_at_most_its_cap_of_requests_and_each_end_gives_one_back(
        gateway: Gateway) -> None:
    team = key()
    assert gateway.budget.hold(team) and gateway.budget.hold(team)
    with pytest.raises(RateLimited, match="2 requests in flight"):
        gateway.budget.hold(team)
    gateway.budget.let_go(team)
    assert gateway.budget.hold(team)
    assert gateway.budget.in_flight("key-1") == 2
    assert not gateway.budget.hold(None)
    uncapped = key(max_in_flight=0)
    for _ in range(5):
        gateway.budget.hold(uncapped)


def test_every_way_a_ticket_ends_lets_go_of_its_place_once(gateway: Gateway) -> None:
    team = key(max_in_flight=1)

    async def scenario() -> None:
        for end in ("complete", "fail", "refused", "abandon"):
            ticket = gateway.ticket(f"req-{end}")
            ticket.key = team
            ticket.route("qwen-plus", "model.gguf")
            await ticket.admit(10, 90)
            assert gateway.budget.in_flight("key-1") == 1
            if end == "complete":
                await ticket.complete()
            elif end == "fail":
                ticket.fail(QuotaExceeded())
            elif end == "refused":
                ticket.fail(ServerOverloaded())
            else:
                ticket.abandon()
            ticket.abandon()  # a second end changes nothing
            assert gateway.budget.in_flight("key-1") == 0

    asyncio.run(scenario())


def test_the_first_end_decides_the_outcome_and_later_ones_change_nothing(
        gateway: Gateway) -> None:
    team = key(max_in_flight=1)

    async def final_usage() -> Usage:
        return Usage(prompt_tokens=10, completion_tokens=5)

    async def scenario() -> None:
        ticket = gateway.ticket("once")
        ticket.key = team
        ticket.route("qwen-plus", "model.gguf")
        await ticket.admit(10, 90)
        assert ticket.outcome is None
        ticket.abandon(final_usage)                  # its row waits for the usage
        ticket.fail(QuotaExceeded())
        await ticket.complete()
        assert ticket.outcome is Outcome.ABANDONED
        await asyncio.gather(*gateway._tasks)
        assert gateway.budget.in_flight("key-1") == 0

    asyncio.run(scenario())


def test_a_reservation_is_settled_to_the_usage_and_a_refusal_is_refunded(
        gateway: Gateway) -> None:
    team = key(tpm=6000, max_in_flight=0)  # 100 tokens per second

    async def admit(request_id: str, prompt: int, output: int) -> Ticket:
        ticket = gateway.ticket(request_id)
        ticket.key = team
        ticket.route("qwen-plus", "model.gguf")
        await ticket.admit(prompt, output)
        return ticket

    async def scenario() -> None:  # the clock stands still: one slot holds everything
        first = await admit("a", 10, 990)             # reserves 1000 of the second's 100
        with pytest.raises(QuotaExceeded):
            await admit("b", 1, 0)
        first.observe(Usage(prompt_tokens=10, completion_tokens=20))
        await first.complete()                        # settled to 30
        second = await admit("c", 70, 0)              # 30 + 70 = 100: full
        with pytest.raises(QuotaExceeded):
            await admit("probe", 1, 0)
        second.fail(ServerOverloaded())               # refused after admission
        await asyncio.gather(*gateway._tasks)         # the refund runs in the background
        third = await admit("d", 70, 0)               # 30 again: even its prompt came back
        await third.complete()

    asyncio.run(scenario())


def test_a_quota_the_store_lacks_is_seeded_from_the_ledger(gateway: Gateway) -> None:
    team = key(quota_tokens=100)
    gateway.ledger.record(UsageRow(
        created_at=NOW, request_id="old", key_id="key-1", model="qwen-plus",
        deployment="model.gguf", stream=False, status=200, error_code=None,
        finish_reason="stop", prompt_tokens=60, cached_tokens=0, completion_tokens=40,
        reasoning_tokens=0, ttft_ms=None, duration_ms=1.0)).result(timeout=30)

    async def scenario() -> None:
        ticket = gateway.ticket("new")
        ticket.key = team
        ticket.route("qwen-plus", "model.gguf")
        with pytest.raises(QuotaExceeded):
            await ticket.admit(1, 0)

    asyncio.run(scenario())

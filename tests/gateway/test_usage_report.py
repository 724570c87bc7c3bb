"""Usage reports over a real ledger, on SQLite and on PostgreSQL: totals grouped by day, key
and model (errors counted, anonymous rows last), filters, tokens used, quotas left."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from harness.services import PostgresServer
from sqlalchemy import Engine

from qwenchat.gateway.database import open_database
from qwenchat.gateway.keys import KeyStore
from qwenchat.gateway.ledger import Ledger, UsageRow
from qwenchat.gateway.usage_report import (
    QuotaStatus,
    UsageTotal,
    quota_status,
    usage_totals,
    used_tokens,
)

DAY1 = datetime(2030, 1, 1, 23, 59, tzinfo=timezone.utc)
DAY2 = datetime(2030, 1, 2, 0, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty gateway database, migrated to the newest schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'qwenchat.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    engine = open_database(url)
    try:
        yield engine
    finally:
        engine.dispose()


def row(when: datetime, key_id: str | None, model: str, *, status: int = 200,
        prompt: int = 0, cached: int = 0, completion: int = 0,
        reasoning: int = 0) -> UsageRow:
    return UsageRow(created_at=when, request_id=uuid.uuid4().hex, key_id=key_id, model=model,
                    deployment="test.gguf", stream=False, status=status,
                    error_code=None if status < 400 else "some_error", prompt_tokens=prompt,
                    cached_tokens=cached, completion_tokens=completion,
                    reasoning_tokens=reasoning, duration_ms=12.5)


def record(engine: Engine, rows: list[UsageRow]) -> None:
    ledger = Ledger(engine)
    try:
        for future in [ledger.record(r) for r in rows]:
            future.result(timeout=30)
    finally:
        ledger.close()


def ledger_of(engine: Engine) -> tuple[str, str]:
    """Keys `alpha` and `beta`, and six rows over two days, two models and no key."""
    store = KeyStore(engine)
    alpha = store.create("alpha", region="local").key.id
    beta = store.create("beta", region="local").key.id
    record(engine, [
        row(DAY2, alpha, "qwen3-max", prompt=100, completion=50),
        row(DAY1, None, "qwen-plus", prompt=3, completion=1),
        row(DAY1, alpha, "qwen-plus", prompt=1000, cached=400, completion=200, reasoning=80),
        row(DAY1, alpha, "qwen-plus", status=429),
        row(DAY1, beta, "qwen-plus", status=500, prompt=7),
        row(DAY2, alpha, "qwen-plus", prompt=20, completion=10),
    ])
    return alpha, beta


def test_totals_are_grouped_by_day_key_and_model(engine: Engine) -> None:
    alpha, beta = ledger_of(engine)

    totals = usage_totals(engine)

    assert totals == [
        UsageTotal("2030-01-01", alpha, "alpha", "qwen-plus", requests=2, errors=1,
                   prompt_tokens=1000, cached_tokens=400, completion_tokens=200,
                   reasoning_tokens=80, total_tokens=1200),
        UsageTotal("2030-01-01", beta, "beta", "qwen-plus", requests=1, errors=1,
                   prompt_tokens=7, cached_tokens=0, completion_tokens=0,
                   reasoning_tokens=0, total_tokens=7),
        UsageTotal("2030-01-01", None, None, "qwen-plus", requests=1, errors=0,
                   prompt_tokens=3, cached_tokens=0, completion_tokens=1,
                   reasoning_tokens=0, total_tokens=4),
        UsageTotal("2030-01-02", alpha, "alpha", "qwen-plus", requests=1, errors=0,
                   prompt_tokens=20, cached_tokens=0, completion_tokens=10,
                   reasoning_tokens=0, total_tokens=30),
        UsageTotal("2030-01-02", alpha, "alpha", "qwen3-max", requests=1, errors=0,
                   prompt_tokens=100, cached_tokens=0, completion_tokens=50,
                   reasoning_tokens=0, total_tokens=150),
    ]
    assert all(type(value) is int for total in totals  # not Decimal, whatever the database
               for value in (total.requests, total.errors, total.prompt_tokens))


def test_totals_keep_only_the_day_key_and_model_asked_for(engine: Engine) -> None:
    alpha, _ = ledger_of(engine)

    since = usage_totals(engine, since=date(2030, 1, 2))
    of_alpha = usage_totals(engine, key=alpha, model="qwen-plus")

    assert [(t.day, t.model) for t in since] == [("2030-01-02", "qwen-plus"),
                                                ("2030-01-02", "qwen3-max")]
    assert [(t.day, t.requests) for t in of_alpha] == [("2030-01-01", 2), ("2030-01-02", 1)]
    assert usage_totals(engine, model="qwen-turbo") == []


def test_used_tokens_sum_prompt_and_completion_of_every_row_of_a_key(engine: Engine) -> None:
    alpha, beta = ledger_of(engine)

    assert used_tokens(engine, alpha) == 1200 + 30 + 150
    assert used_tokens(engine, beta) == 7
    assert used_tokens(engine, "no-such-key") == 0


def test_quota_status_lists_unrevoked_keys_with_a_quota(engine: Engine) -> None:
    store = KeyStore(engine)
    small = store.create("small", region="local", quota_tokens=100).key.id
    large = store.create("large", region="local", quota_tokens=10_000_000_000).key.id
    idle = store.create("idle", region="local", quota_tokens=50).key.id
    store.create("unlimited", region="local")
    gone = store.create("gone", region="local", quota_tokens=5).key.id
    store.revoke(gone)
    record(engine, [row(DAY1, small, "qwen-plus", prompt=90, completion=30),
                    row(DAY1, large, "qwen-plus", prompt=5, completion=5),
                    row(DAY2, large, "qwen3-max", prompt=10)])

    assert quota_status(engine) == [
        QuotaStatus(idle, "idle", quota_tokens=50, used_tokens=0, remaining_tokens=50),
        QuotaStatus(large, "large", quota_tokens=10_000_000_000, used_tokens=20,
                    remaining_tokens=9_999_999_980),
        QuotaStatus(small, "small", quota_tokens=100, used_tokens=120, remaining_tokens=0),
    ]


def test_an_empty_ledger_reports_nothing(engine: Engine) -> None:
    assert usage_totals(engine) == []
    assert quota_status(engine) == []


def test_unauthenticated_refusals_are_counted_into_the_keyless_totals(engine: Engine) -> None:
    ledger_of(engine)
    with Ledger(engine) as ledger:
        for when, model in ((DAY1, "qwen-plus"), (DAY1, "qwen-plus"), (DAY2, "")):
            ledger.count_refusal(row(when, None, model or "some-junk", status=401), model)
    # (closing writes the counts)

    totals = usage_totals(engine)

    keyless = [(t.day, t.model, t.requests, t.errors, t.total_tokens)
               for t in totals if t.key_id is None]
    assert keyless == [("2030-01-01", "qwen-plus", 3, 2, 4), ("2030-01-02", "", 1, 1, 0)]
    assert [t.day for t in totals] == sorted(t.day for t in totals)
    assert usage_totals(engine, model="qwen3-max") == [
        t for t in totals if t.model == "qwen3-max"]

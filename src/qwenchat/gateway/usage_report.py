"""Reports over the usage ledger: totals by day, key and model; tokens used; quotas left.

Every function is one query (SQLAlchemy Core) that groups and sums in the database, so a
report reads a few rows whatever the size of the ledger, and the same code runs on SQLite
and PostgreSQL. Rules the numbers keep:

* tokens used = prompt + completion tokens (cached tokens are part of the prompt, reasoning
  tokens part of the completion), the same count the quota is charged;
* an error is a row whose HTTP status is 400 or more; refused requests count as requests;
* rows without a key (anonymous, auth off) report ``key_id`` and ``key_name`` as None;
* unauthenticated refusals (401), counted in the ``refusals`` table rather than one row
  each, are added to the keyless totals of their day and model ("" for an id not served)
  as requests and errors;
* days are the UTC days of the ledger's ``day`` column (``YYYY-MM-DD``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, case, func, select

from qwenchat.gateway.tables import api_keys, refusals, usage


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """What one key used of one model on one day."""

    day: str
    key_id: str | None
    key_name: str | None
    model: str
    requests: int
    errors: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """How much of its lifetime token quota one key has left."""

    key_id: str
    key_name: str
    quota_tokens: int
    used_tokens: int
    remaining_tokens: int


_TOKENS_USED = usage.c.prompt_tokens + usage.c.completion_tokens


def usage_totals(engine: Engine, *, since: date | None = None, key: str | None = None,
                 model: str | None = None) -> list[UsageTotal]:
    """Totals by (day, key, model), ordered by day, key name (anonymous last), model.

    ``since`` keeps that day and later; ``key`` (a key id) and ``model`` keep those only.
    """
    query = (
        select(
            usage.c.day, usage.c.key_id, api_keys.c.name.label("key_name"), usage.c.model,
            func.count().label("requests"),
            func.sum(case((usage.c.status >= 400, 1), else_=0)).label("errors"),
            func.sum(usage.c.prompt_tokens).label("prompt_tokens"),
            func.sum(usage.c.cached_tokens).label("cached_tokens"),
            func.sum(usage.c.completion_tokens).label("completion_tokens"),
            func.sum(usage.c.reasoning_tokens).label("reasoning_tokens"),
        )
        .select_from(usage.outerjoin(api_keys, usage.c.key_id == api_keys.c.id))
        .group_by(usage.c.day, usage.c.key_id, api_keys.c.name, usage.c.model)
        .order_by(usage.c.day, api_keys.c.name.nulls_last(), usage.c.key_id, usage.c.model)
    )
    if since is not None:
        query = query.where(usage.c.day >= since.isoformat())
    if key is not None:
        query = query.where(usage.c.key_id == key)
    if model is not None:
        query = query.where(usage.c.model == model)
    with engine.connect() as connection:
        totals = [_total(row._mapping) for row in connection.execute(query)]
        if key is not None:  # refusals have no key
            return totals
        return _with_refusals(totals, connection.execute(_refusal_query(since, model)).all())


def _refusal_query(since: date | None, model: str | None) -> Any:
    count = func.sum(refusals.c.count).label("count")
    query = select(refusals.c.day, refusals.c.model, count).group_by(
        refusals.c.day, refusals.c.model)
    if since is not None:
        query = query.where(refusals.c.day >= since.isoformat())
    if model is not None:
        query = query.where(refusals.c.model == model)
    return query


def _with_refusals(totals: list[UsageTotal], counted: Any) -> list[UsageTotal]:
    """``totals`` with each (day, model)'s refusals added to its keyless total."""
    keyless = {(t.day, t.model): n for n, t in enumerate(totals) if t.key_id is None}
    for day, model, count in counted:
        count = int(count)
        index = keyless.get((day, model))
        if index is None:
            totals.append(UsageTotal(day=day, key_id=None, key_name=None, model=model,
                                     requests=count, errors=count, prompt_tokens=0,
                                     cached_tokens=0, completion_tokens=0,
                                     reasoning_tokens=0, total_tokens=0))
        else:
            total = totals[index]
            totals[index] = dataclasses.replace(total, requests=total.requests + count,
                                                errors=total.errors + count)
    return sorted(totals, key=lambda t: (t.day, t.key_name is None, t.key_name or "",
                                         t.key_id or "", t.model))


def used_tokens(engine: Engine, key_id: str) -> int:
    """Prompt + completion tokens of every ledger row of ``key_id`` (0 if it has none)."""
    query = select(func.coalesce(func.sum(_TOKENS_USED), 0)).where(usage.c.key_id == key_id)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def quota_status(engine: Engine) -> list[QuotaStatus]:
    """Every key that is not revoked and has a token quota, by name, with what it has left."""
    used = func.coalesce(func.sum(_TOKENS_USED), 0).label("used")
    query = (
        select(api_keys.c.id, api_keys.c.name, api_keys.c.quota_tokens, used)
        .select_from(api_keys.outerjoin(usage, usage.c.key_id == api_keys.c.id))
        .where(api_keys.c.revoked_at.is_(None), api_keys.c.quota_tokens.is_not(None))
        .group_by(api_keys.c.id, api_keys.c.name, api_keys.c.quota_tokens)
        .order_by(api_keys.c.name)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [QuotaStatus(key_id=row.id, key_name=row.name, quota_tokens=int(row.quota_tokens),
                        used_tokens=int(row.used),
                        remaining_tokens=max(0, int(row.quota_tokens) - int(row.used)))
            for row in rows]


def _total(row: Any) -> UsageTotal:
    # int(): a driver may hand a sum back as a Decimal (PostgreSQL: SUM(BIGINT) is NUMERIC).
    counts = {name: int(row[name]) for name in (
        "requests", "errors", "prompt_tokens", "cached_tokens", "completion_tokens",
        "reasoning_tokens")}
    return UsageTotal(day=row["day"], key_id=row["key_id"], key_name=row["key_name"],
                      model=row["model"], **counts,
                      total_tokens=counts["prompt_tokens"] + counts["completion_tokens"])

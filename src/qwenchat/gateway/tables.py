"""The gateway's database schema: API keys, the usage ledger and counts of unauthenticated
refusals (SQLAlchemy Core).

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test
compares the two so that they cannot drift. Times are timezone-aware UTC. ``usage.day`` is
the UTC date of ``created_at`` as ``YYYY-MM-DD``, so totals by day group the same way on
every database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
_RowId = BigInteger().with_variant(Integer(), "sqlite")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    Column("models", Text, nullable=True),  # JSON list of model ids; NULL: every model
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("quota_tokens", BigInteger, nullable=True),
    Column("region", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("total_rpm", Integer, nullable=True),  # over all models; NULL: none
    Column("total_tpm", Integer, nullable=True),
    Column("max_in_flight", Integer, nullable=True),  # NULL: the server's default
)

usage = Table(
    "usage",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("day", String(10), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("key_id", String(32), nullable=True),
    Column("model", String(200), nullable=False),
    Column("deployment", String(200), nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("finish_reason", String(32), nullable=True),
    Column("prompt_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Index("ix_usage_key_day", "key_id", "day"),
    Index("ix_usage_day", "day"),
    Index("ix_usage_request_id", "request_id", unique=True),  # one row per request
)

refusals = Table(
    "refusals",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("minute", DateTime(timezone=True), nullable=False),  # UTC, seconds zeroed
    Column("day", String(10), nullable=False),
    Column("status", Integer, nullable=False),
    Column("error_code", String(64), nullable=False),
    Column("model", String(200), nullable=False),  # a served id, or "" for any other
    Column("count", Integer, nullable=False),
    Index("ix_refusals_day", "day"),
)
"""Requests refused before a key was known (401), counted per minute, status, code and
served model rather than one row each: whatever an unauthenticated client sends, this
table grows by a bounded number of rows per minute."""

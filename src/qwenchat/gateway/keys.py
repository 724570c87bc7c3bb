"""API keys: making secrets, storing only their hashes, and managing keys in the database.

A secret is ``sk-`` + 32 random bytes (URL-safe base64), shown once at creation. The
database keeps its SHA-256 hash (the secret has 256 bits of entropy, so a fast hash is
safe) under a unique index: a lookup is one indexed query, never a scan, and the hash is
compared again with :func:`hmac.compare_digest`. ``hint`` (``sk-…`` + last four characters)
lets people tell keys apart; no other part of a secret is ever stored, logged or shown.

Rotating gives a key a new secret and keeps everything else (id, limits, usage): the old
secret stops working at once. Revoking is permanent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from qwenchat.errors import InvalidParameter
from qwenchat.gateway.tables import api_keys

SECRET_PREFIX = "sk-"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key's record (never its secret)."""

    id: str
    name: str
    hint: str
    region: str
    created_at: datetime
    models: tuple[str, ...] | None = None  # None: every model
    rpm: int | None = None
    tpm: int | None = None
    quota_tokens: int | None = None
    expires_at: datetime | None = None
    total_rpm: int | None = None  # over all models together; None: no such limit
    total_tpm: int | None = None
    max_in_flight: int | None = None  # None: the server's key_max_in_flight; 0: no cap
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made or rotated: its record and its secret, shown once."""

    key: ApiKey
    secret: str


def new_secret() -> str:
    """A fresh secret: ``sk-`` + 32 random bytes."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class KeyStore:
    """Keys in the gateway database (used by the CLI and, read-only, by the server)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, *, region: str, models: Sequence[str] | None = None,
               rpm: int | None = None, tpm: int | None = None,
               quota_tokens: int | None = None, expires_at: datetime | None = None,
               total_rpm: int | None = None, total_tpm: int | None = None,
               max_in_flight: int | None = None) -> NewKey:
        """Make a key; ``InvalidParameter`` if the name is taken."""
        secret = new_secret()
        key = ApiKey(id=uuid.uuid4().hex, name=name, hint=_hint(secret), region=region,
                     created_at=utcnow(), models=tuple(models) if models else None, rpm=rpm,
                     tpm=tpm, quota_tokens=quota_tokens, expires_at=expires_at,
                     total_rpm=total_rpm, total_tpm=total_tpm, max_in_flight=max_in_flight)
        row = {**_to_row(key), "secret_hash": hash_secret(secret)}
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(api_keys).values(**row))
        except IntegrityError as exc:
            raise InvalidParameter(f"A key named '{name}' already exists.") from exc
        return NewKey(key, secret)

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Every key, oldest first."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.name)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self._engine.connect() as connection:
            return [_from_row(row._mapping) for row in connection.execute(query)]

    def get(self, name_or_id: str) -> ApiKey:
        """The key with this name or id; ``InvalidParameter`` if there is none."""
        query = select(api_keys).where(
            or_(api_keys.c.name == name_or_id, api_keys.c.id == name_or_id))
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise InvalidParameter(f"No key is named '{name_or_id}'.")
        return _from_row(row._mapping)

    def find(self, secret: str) -> ApiKey | None:
        """The key whose secret this is (revoked and expired keys included), or None."""
        digest = hash_secret(secret)
        query = select(api_keys).where(api_keys.c.secret_hash == digest)
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(row._mapping["secret_hash"], digest):
            return None
        return _from_row(row._mapping)

    def has_active_keys(self) -> bool:
        """Whether any key is neither revoked nor expired."""
        query = select(api_keys.c.id).where(
            api_keys.c.revoked_at.is_(None),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > utcnow()),
        ).limit(1)
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke a key for good."""
        key = self.get(name_or_id)
        if key.is_revoked:
            return key
        now = utcnow()
        self._update(key.id, revoked_at=now)
        return dataclasses.replace(key, revoked_at=now)

    def rotate(self, name_or_id: str) -> NewKey:
        """Give a key a new secret; the old one stops working."""
        key = self.get(name_or_id)
        if key.is_revoked:
            raise InvalidParameter(f"Key '{key.name}' is revoked; create a new one.")
        secret, now = new_secret(), utcnow()
        self._update(key.id, secret_hash=hash_secret(secret), hint=_hint(secret),
                     rotated_at=now)
        return NewKey(dataclasses.replace(key, hint=_hint(secret), rotated_at=now), secret)

    def _update(self, key_id: str, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(**values))


def _hint(secret: str) -> str:
    return f"{SECRET_PREFIX}…{secret[-4:]}"


def _to_row(key: ApiKey) -> dict[str, Any]:
    row = dataclasses.asdict(key)
    row["models"] = json.dumps(list(key.models)) if key.models is not None else None
    return row


def _from_row(row: Any) -> ApiKey:
    fields = {field.name: row[field.name] for field in dataclasses.fields(ApiKey)}
    fields["models"] = tuple(json.loads(row["models"])) if row["models"] else None
    for name in ("created_at", "expires_at", "revoked_at", "rotated_at"):
        fields[name] = _aware(fields[name])
    return ApiKey(**fields)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value

"""A gateway's key and ledger in a benchmark's fresh database: limits that never refuse, and
the rows recorded."""

from __future__ import annotations

from qwenchat.gateway import KeyStore, open_database
from qwenchat.gateway.usage_report import usage_totals

UNLIMITED_RPM, UNLIMITED_TPM, QUOTA_TOKENS = 10**7, 10**9, 10**12


def make_key(database_url: str, limits: bool) -> str:
    """A key in the run's fresh database; with ``limits``, rpm, tpm and a token quota far
    above what a run uses (checked and charged on every request, never refusing)."""
    database = open_database(database_url)
    try:
        keys = KeyStore(database)
        if not limits:
            return keys.create("bench", region="local").secret
        return keys.create("bench", region="local", rpm=UNLIMITED_RPM, tpm=UNLIMITED_TPM,
                           quota_tokens=QUOTA_TOKENS).secret
    finally:
        database.dispose()


def ledger_rows(database_url: str) -> int:
    """Requests the usage ledger holds."""
    database = open_database(database_url)
    try:
        return sum(total.requests for total in usage_totals(database))
    finally:
        database.dispose()

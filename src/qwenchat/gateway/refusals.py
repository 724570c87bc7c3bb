"""``RefusalCounts``: unauthenticated refusals counted in memory until the ledger writes them.

A request refused before any key is known (401) costs the server nothing worth a row of
its own, and an attacker can send them without end: they are counted per (UTC minute,
status, code, model) instead, ``model`` being a served id or "" for anything else, and the
ledger's writer adds one ``refusals`` row per count every few seconds. The number of
counts is bounded by the served ids, whatever the requests carry. Counts not yet written
are lost if the process is killed (a few seconds' worth), and put back when a write fails.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

Bucket = tuple[datetime, int, str, str]
"""UTC minute, HTTP status, error code, model."""


class RefusalCounts:
    """Counts of refused requests waiting to be written; thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[Bucket] = Counter()
        self._lock = threading.Lock()

    def add(self, when: datetime, status: int, code: str, model: str) -> None:
        minute = when.astimezone(timezone.utc).replace(second=0, microsecond=0)
        with self._lock:
            self._counts[(minute, status, code, model)] += 1

    def take(self) -> Counter[Bucket]:
        """The counts waiting, forgotten here (see :meth:`put_back`)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def put_back(self, counts: Counter[Bucket]) -> None:
        """Counts of :meth:`take` that could not be written: counted again."""
        with self._lock:
            self._counts.update(counts)


def refusal_rows(counts: Counter[Bucket]) -> list[dict[str, object]]:
    """``counts`` as rows of the ``refusals`` table."""
    return [{"minute": minute, "day": minute.strftime("%Y-%m-%d"), "status": status,
             "error_code": code, "model": model, "count": count}
            for (minute, status, code, model), count in counts.items()]

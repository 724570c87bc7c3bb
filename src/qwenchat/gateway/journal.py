"""The ledger's local journal: usage rows the database did not take in time, kept on disk.

When a commit fails, or a completed request's row is not committed within the ledger's
bound, the row is appended here as one JSON line, and the file is flushed and fsynced
before anyone is told the row is safe. The writer later takes the journal (renamed aside,
so rows appended meanwhile go to a fresh file), commits its rows, and deletes it; a taken
journal whose commit failed is taken again next time. Rules it keeps:

* append-only; every append ends with a newline, and starts with one if the file does not
  (a line torn by a crash stays a torn line of its own);
* a line that does not parse (torn, or not a row) is skipped and logged, never fatal;
* the same row may be journalled twice (by a late commit and by the request that stopped
  waiting): replaying is idempotent by ``request_id`` (see :mod:`qwenchat.gateway.ledger`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from qwenchat.gateway.usage_row import UsageRow

_log = logging.getLogger("qwenchat.gateway")


class Journal:
    """An append-only, fsynced JSON-lines file of usage rows; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.taken_path = path.with_name(path.name + ".replaying")
        self._lock = threading.Lock()

    def append(self, rows: Sequence[UsageRow]) -> None:
        """Write ``rows`` and fsync; when this returns they survive a crash."""
        if not rows:
            return
        data = b"".join(_encode(row) for row in rows)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as file:
                if file.tell() and not _ends_with_newline(self.path):
                    data = b"\n" + data
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        _log.warning("usage ledger: %d rows journalled in %s", len(rows), self.path)

    def has_rows(self) -> bool:
        """Whether anything waits to be replayed."""
        return any(_size(path) for path in (self.taken_path, self.path))

    def take(self) -> list[UsageRow]:
        """The rows waiting (the journal set aside first); :meth:`release` once committed."""
        with self._lock:
            if not self.taken_path.exists() and _size(self.path):
                os.replace(self.path, self.taken_path)
                _fsync_dir(self.path.parent)
        if not self.taken_path.exists():
            return []
        return read_rows(self.taken_path)

    def release(self) -> None:
        """The taken rows are committed: forget them."""
        self.taken_path.unlink(missing_ok=True)
        _fsync_dir(self.path.parent)


def read_rows(path: Path) -> list[UsageRow]:
    """Every row of a journal file, skipping lines that do not parse."""
    rows: list[UsageRow] = []
    num_bad = 0
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            rows.append(_decode(json.loads(line)))
        except (ValueError, TypeError, KeyError):
            num_bad += 1
    if num_bad:
        _log.warning("usage ledger: %d unreadable lines skipped in %s", num_bad, path)
    return rows


def _encode(row: UsageRow) -> bytes:
    values: dict[str, Any] = {name: getattr(row, name) for name in UsageRow.fields()}
    values["created_at"] = row.created_at.isoformat()
    return json.dumps(values, separators=(",", ":")).encode() + b"\n"


def _decode(values: dict[str, Any]) -> UsageRow:
    values = {name: values[name] for name in UsageRow.fields() if name in values}
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    return UsageRow(**values)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

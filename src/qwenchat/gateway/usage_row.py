"""``UsageRow``: what one chat request used and how it ended, as the ledger stores it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True, slots=True)
class UsageRow:
    """What one request used and how it ended."""

    created_at: datetime
    request_id: str
    key_id: str | None
    model: str
    deployment: str
    stream: bool
    status: int
    error_code: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float = 0.0

    @staticmethod
    def fields() -> tuple[str, ...]:
        """The names of the row's values, in order."""
        return _FIELDS

    def to_row(self) -> dict[str, object]:
        """The row's column values (``dataclasses.asdict`` would deep-copy the datetime)."""
        row: dict[str, object] = {field: getattr(self, field) for field in _FIELDS}
        row["day"] = self.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return row


_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRow))

"""The ledger's journal: fsynced JSON lines that survive a torn last line, taken aside for
replay so that rows appended meanwhile are kept."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from qwenchat.gateway.journal import Journal
from qwenchat.gateway.usage_row import UsageRow

CREATED = datetime(2026, 3, 4, 23, 59, 30, 123456, tzinfo=timezone.utc)


def usage_row(request_id: str, **fields: object) -> UsageRow:
    values: dict[str, object] = {
        "created_at": CREATED, "request_id": request_id, "key_id": None,
        "model": "qwen-plus", "deployment": "local", "stream": True, "status": 200,
        **fields}
    return UsageRow(**values)


def test_rows_come_back_whole_and_are_forgotten_once_released(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "home" / "journal.jsonl")
    assert not journal.has_rows() and journal.take() == []
    rows = [usage_row("req-1", key_id="key-1", finish_reason="stop", prompt_tokens=11,
                      cached_tokens=3, completion_tokens=7, reasoning_tokens=2,
                      ttft_ms=12.5, duration_ms=80.25),
            usage_row("req-2", status=499, error_code="client_closed_request")]
    journal.append(rows[:1])
    journal.append(rows[1:])
    assert journal.has_rows()
    assert journal.take() == rows
    assert journal.take() == rows  # not released: taken again
    journal.release()
    assert not journal.has_rows() and journal.take() == []


def test_a_torn_last_line_is_skipped_and_later_rows_are_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append([usage_row("req-1")])
    with journal.path.open("ab") as file:  # a crash in the middle of a write
        file.write(b'{"created_at":"2026-03-04T23:59:30+00:00","request_id":"req-t')
    journal.append([usage_row("req-2")])
    with journal.path.open("ab") as file:
        file.write(b'["not a row"]\n{"request_id": "no other field"}\n')
    assert [row.request_id for row in journal.take()] == ["req-1", "req-2"]


def test_rows_appended_while_a_journal_is_replayed_wait_for_the_next_replay(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append([usage_row("req-1")])
    assert [row.request_id for row in journal.take()] == ["req-1"]
    journal.append([usage_row("req-2")])
    assert [row.request_id for row in journal.take()] == ["req-1"]
    journal.release()
    assert journal.has_rows()
    assert [row.request_id for row in journal.take()] == ["req-2"]

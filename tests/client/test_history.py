"""ConversationStore: a real SQLite file, round trips, ordering, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qwenchat.client import ClientError, ConversationStore
from qwenchat.client._history import MIGRATIONS, default_path


def test_round_trip_with_usage_totals(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with ConversationStore(path) as store:
        conversation = store.create(model="qwen-plus", system="Be brief.")
        store.append(conversation, {"role": "user", "content": "What is   the capital of France?"})
        answer = {"role": "assistant", "content": "Paris.", "reasoning_content": "Easy."}
        store.append(conversation, answer, {"prompt_tokens": 12, "completion_tokens": 3})
        store.append(conversation, {"role": "user", "content": "And of Spain?"})
        store.append(conversation, {"role": "assistant", "content": "Madrid."},
                     {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22})
    with ConversationStore(path) as store:  # reopened: nothing lost, no migration rerun
        assert store.messages(conversation) == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is   the capital of France?"},
            answer, {"role": "user", "content": "And of Spain?"},
            {"role": "assistant", "content": "Madrid."}]
        info = store.info(conversation)
    assert len(conversation) == 8 and int(conversation, 16) >= 0
    assert info["id"] == conversation and info["model"] == "qwen-plus"
    assert info["title"] == "What is the capital of France?"
    assert (info["prompt_tokens"], info["completion_tokens"], info["messages"]) == (32, 5, 5)
    assert info["created"] <= info["updated"]


def test_latest_and_list_follow_the_last_update(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "h.db") as store:
        assert store.latest() is None and store.list() == []
        first = store.create(model="a")
        second = store.create(model="b")
        assert store.latest() == second
        store.append(first, {"role": "user", "content": "x" * 100})
        assert store.latest() == first
        listed = store.list()
        assert [row["id"] for row in listed] == [first, second]
        assert listed[0]["title"] == "x" * 59 + "…" and listed[1]["title"] is None
        assert [row["id"] for row in store.list(limit=1)] == [first]
        store.set_model(second, "c")
        assert store.info(second)["model"] == "c" and store.latest() == second


def test_ids_resolve_by_unique_prefix(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "h.db") as store:
        conversation = store.create(model="m")
        assert store.resolve(conversation[:3]) == conversation
        store.append(conversation[:5], {"role": "user", "content": "hi"})
        assert store.messages(conversation[:4]) == [{"role": "user", "content": "hi"}]
        for unknown in ("zz", ""):
            with pytest.raises(ClientError, match="does not exist") as caught:
                store.messages(unknown)
            assert caught.value.exit_code == 2


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    ConversationStore(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("UPDATE schema_version SET version = 99")
        db.commit()
    finally:
        db.close()
    with pytest.raises(ClientError, match="newer qwenchat"):
        ConversationStore(path)


def test_default_path_is_in_the_user_directory(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWENCHAT_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / "history.db"
    with ConversationStore() as store:
        store.create(model="m")
    assert (tmp_path / "home" / "history.db").is_file()

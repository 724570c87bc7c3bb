"""Conversation history in SQLite: ``$QWENCHAT_HOME/history.db`` (``~/.qwenchat`` by default).

One file, WAL mode, created on first use. The schema is migrated on open: ``schema_version``
holds the number of migrations applied, and ``MIGRATIONS`` is append-only (a new release adds a
step; it never edits an old one). A message is stored as the JSON the API takes, in order,
with the usage of the response that produced it. Conversation ids are 8 hex digits; every
method that takes one also accepts a unique prefix.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from qwenchat.client._errors import EXIT_USAGE, ClientError

TITLE_LENGTH = 60
Summary = dict[str, Any]
Summaries = list[Summary]  # named here: inside the class, `list` is a method
_SUMMARY_KEYS = ("id", "model", "system", "title", "created", "updated", "messages",
                 "prompt_tokens", "completion_tokens")
_SUMMARY_SQL = (
    "SELECT c.id, c.model, c.system, c.title, c.created, c.updated, COUNT(m.id),"
    " COALESCE(SUM(m.prompt_tokens), 0), COALESCE(SUM(m.completion_tokens), 0)"
    " FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id"
    " {where} GROUP BY c.id ORDER BY c.updated DESC, c.rowid DESC LIMIT ?")
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY, model TEXT NOT NULL, system TEXT, title TEXT,
        created TEXT NOT NULL, updated TEXT NOT NULL);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        message TEXT NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL);
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations (updated);
    """,
)


def default_path() -> Path:
    """``$QWENCHAT_HOME/history.db``, else ``~/.qwenchat/history.db``."""
    home = os.environ.get("QWENCHAT_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".qwenchat") / "history.db"


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations ``db`` lacks; return its schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version = int(row[0]) if row else 0
    if row is None:
        db.execute("INSERT INTO schema_version (version) VALUES (0)")
    if version > len(MIGRATIONS):
        raise ClientError(f"The history database is from a newer qwenchat (schema {version}); "
                          "upgrade qwenchat.", exit_code=EXIT_USAGE)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with db:
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute("UPDATE schema_version SET version = ?", (number,))
    db.commit()
    return len(MIGRATIONS)


class ConversationStore:
    """Conversations and their messages; close it, or use it in ``with``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def create(self, *, model: str, system: str | None = None) -> str:
        """A new conversation (with ``system`` as its first message); its id."""
        now = _now()
        with self._db:
            while True:
                conversation_id = secrets.token_hex(4)
                try:
                    self._db.execute(
                        "INSERT INTO conversations (id, model, system, created, updated)"
                        " VALUES (?, ?, ?, ?, ?)", (conversation_id, model, system, now, now))
                    break
                except sqlite3.IntegrityError:
                    continue
        if system:
            self.append(conversation_id, {"role": "system", "content": system})
        return conversation_id

    def append(self, conversation_id: str, message: dict[str, Any],
               usage: dict[str, Any] | None = None) -> None:
        """Add ``message`` (and the usage of the response it came from) to a conversation."""
        conversation_id = self.resolve(conversation_id)
        now = _now()
        usage = usage or {}
        with self._db:
            self._db.execute(
                "INSERT INTO messages (conversation_id, message, prompt_tokens,"
                " completion_tokens, created) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, json.dumps(message, ensure_ascii=False),
                 int(usage.get("prompt_tokens") or 0),
                 int(usage.get("completion_tokens") or 0), now))
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                             (now, conversation_id))
            if message.get("role") == "user":
                self._db.execute("UPDATE conversations SET title = ? WHERE id = ? AND title IS"
                                 " NULL", (_title(message.get("content")), conversation_id))

    def set_model(self, conversation_id: str, model: str) -> None:
        """Record that the conversation goes on with ``model``."""
        with self._db:
            self._db.execute("UPDATE conversations SET model = ?, updated = ? WHERE id = ?",
                             (model, _now(), self.resolve(conversation_id)))

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages, oldest first, as the API takes them."""
        rows = self._db.execute("SELECT message FROM messages WHERE conversation_id = ?"
                                " ORDER BY id", (self.resolve(conversation_id),))
        return [json.loads(row[0]) for row in rows]

    def latest(self) -> str | None:
        """The id of the most recently updated conversation, or None."""
        row = self._db.execute(
            "SELECT id FROM conversations ORDER BY updated DESC, rowid DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def info(self, conversation_id: str) -> Summary:
        """id, model, system, title, created, updated, messages and token totals."""
        return self._summaries("WHERE c.id = ?", (self.resolve(conversation_id), 1))[0]

    def list(self, limit: int = 20) -> Summaries:
        """The ``limit`` most recently updated conversations (as ``info``), newest first."""
        return self._summaries("", (limit,))

    def resolve(self, conversation_id: str) -> str:
        """The full id of ``conversation_id`` or of the one conversation it is a prefix of."""
        rows = self._db.execute(
            "SELECT id FROM conversations WHERE substr(id, 1, ?) = ? ORDER BY id = ? DESC"
            " LIMIT 2", (len(conversation_id), conversation_id, conversation_id),
        ).fetchall() if conversation_id else []
        if rows and (rows[0][0] == conversation_id or len(rows) == 1):
            return str(rows[0][0])
        what = "is ambiguous" if rows else "does not exist"
        raise ClientError(f"Conversation {conversation_id!r} {what}: list the conversations "
                          "with `qwenchat history list`.", exit_code=EXIT_USAGE)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _summaries(self, where: str, params: tuple[Any, ...]) -> Summaries:
        rows = self._db.execute(_SUMMARY_SQL.format(where=where), params).fetchall()
        return [dict(zip(_SUMMARY_KEYS, row, strict=True)) for row in rows]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _title(content: Any) -> str:
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    text = " ".join(str(content or "").split())
    return text if len(text) <= TITLE_LENGTH else text[:TITLE_LENGTH - 1] + "…"


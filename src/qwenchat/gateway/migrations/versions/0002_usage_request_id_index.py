"""A unique index on usage.request_id: one row per request, whatever is replayed.

Replaying the ledger's journal looks rows up by request id and skips those already there;
the unique index makes that hold even when a commit held up by the network lands while
the same rows are replayed. A duplicate already in the table (a double count) is removed
first, the oldest row kept.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM usage WHERE id NOT IN "
               "(SELECT MIN(id) FROM usage GROUP BY request_id)")
    op.create_index("ix_usage_request_id", "usage", ["request_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_usage_request_id", table_name="usage")

"""Key-wide limits: requests and tokens per minute over all models, and requests in flight.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("total_rpm", sa.Integer, nullable=True))
        batch.add_column(sa.Column("total_tpm", sa.Integer, nullable=True))
        batch.add_column(sa.Column("max_in_flight", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("max_in_flight")
        batch.drop_column("total_tpm")
        batch.drop_column("total_rpm")

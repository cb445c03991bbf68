"""Synced events (issue #7, bi-directional sync R8/R12): calendar events tied to meetings

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import calgate.persistence.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "synced_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=1024), nullable=False),
        sa.Column("meeting_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("series_event_id", sa.String(length=1024), nullable=True),
        sa.Column("original_start", calgate.persistence.types.UTCDateTime(), nullable=True),
        sa.Column("provider_version", sa.String(length=255), nullable=True),
        sa.Column("provider_updated", calgate.persistence.types.UTCDateTime(), nullable=True),
        sa.Column("has_content", sa.Boolean(), nullable=False),
        sa.Column("starts_at", calgate.persistence.types.UTCDateTime(), nullable=True),
        sa.Column("ends_at", calgate.persistence.types.UTCDateTime(), nullable=True),
        sa.Column("synced_at", calgate.persistence.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_synced_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_synced_events_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_synced_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synced_events")),
        sa.UniqueConstraint(
            "connection_id", "event_id", name=op.f("uq_synced_events_connection_id_event_id")
        ),
    )
    with op.batch_alter_table("synced_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_synced_events_account_id_user_id", ["account_id", "user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_synced_events_ends_at"), ["ends_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_synced_events_meeting_id"), ["meeting_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("synced_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synced_events_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_synced_events_ends_at"))
        batch_op.drop_index("ix_synced_events_account_id_user_id")

    op.drop_table("synced_events")

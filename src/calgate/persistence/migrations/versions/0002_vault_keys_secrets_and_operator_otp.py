"""vault data keys, secrets and operator otp state

Revision ID: 0002
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import calgate.persistence.types

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_otp_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("used_at", calgate.persistence.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_operator_otp_state")),
    )
    op.create_table(
        "vault_data_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_id", sa.String(length=200), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("encryptions", sa.BigInteger(), nullable=False),
        sa.Column("created_at", calgate.persistence.types.UTCDateTime(), nullable=False),
        sa.Column("retired_at", calgate.persistence.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_vault_data_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_vault_data_keys")),
        sa.UniqueConstraint(
            "account_id", "version", name=op.f("uq_vault_data_keys_account_id_version")
        ),
    )
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.create_index("ix_vault_data_keys_kek_id", ["kek_id"], unique=False)
        batch_op.create_index(
            "uq_vault_data_keys_current",
            ["account_id"],
            unique=True,
            sqlite_where=sa.text("retired_at IS NULL"),
            postgresql_where=sa.text("retired_at IS NULL"),
        )

    op.create_table(
        "vault_secrets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("dek_id", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", calgate.persistence.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", calgate.persistence.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_vault_secrets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_secrets")),
        sa.UniqueConstraint(
            "owner", "owner_id", "field", name=op.f("uq_vault_secrets_owner_owner_id_field")
        ),
    )
    with op.batch_alter_table("vault_secrets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vault_secrets_account_id_dek_id", ["account_id", "dek_id"], unique=False
        )
        batch_op.create_index("ix_vault_secrets_dek_id", ["dek_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vault_secrets", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_secrets_dek_id")
        batch_op.drop_index("ix_vault_secrets_account_id_dek_id")

    op.drop_table("vault_secrets")
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_vault_data_keys_current",
            sqlite_where=sa.text("retired_at IS NULL"),
            postgresql_where=sa.text("retired_at IS NULL"),
        )
        batch_op.drop_index("ix_vault_data_keys_kek_id")

    op.drop_table("vault_data_keys")
    op.drop_table("operator_otp_state")

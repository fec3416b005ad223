"""the service: users, their sessions, assist choices; conversation mode, token and rep

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="auto")
        )
        batch.add_column(sa.Column("access_token_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("assigned_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_conversations_assigned_user_id_users"),
            "users",
            ["assigned_user_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_conversations_assigned_user_id"), ["assigned_user_id"])
    op.create_table(
        "assist_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.String(length=128), nullable=True),
        sa.Column("offered", sa.JSON(), nullable=False),
        sa.Column("draft_offered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_assist_choices_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["turns.id"], name=op.f("fk_assist_choices_turn_id_turns")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assist_choices_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_choices")),
        sa.UniqueConstraint("turn_id", name=op.f("uq_assist_choices_turn_id")),
    )
    op.create_index(
        op.f("ix_assist_choices_conversation_id"), "assist_choices", ["conversation_id"]
    )
    op.create_index(op.f("ix_assist_choices_user_id"), "assist_choices", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assist_choices_user_id"), table_name="assist_choices")
    op.drop_index(op.f("ix_assist_choices_conversation_id"), table_name="assist_choices")
    op.drop_table("assist_choices")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index(op.f("ix_conversations_assigned_user_id"))
        batch.drop_constraint(op.f("fk_conversations_assigned_user_id_users"), type_="foreignkey")
        batch.drop_column("assigned_user_id")
        batch.drop_column("access_token_hash")
        batch.drop_column("mode")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_table("users")

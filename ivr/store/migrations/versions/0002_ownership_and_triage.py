"""Which server owns a live call (instances with heartbeats), what a caller turn answered, and missed-utterance triage.

- ``instances``: one row per server process, with its host, pid and heartbeat, so a server starting up closes as
  "interrupted" only the calls of a server that is really gone — never those of a live neighbour.
- ``calls.instance_id``: the server that took the call.
- ``turns.expects``: what the dialog was listening for when the caller spoke (``free``, ``digits``, ``yes_no``):
  only free-text turns that matched no intent are missed utterances.
- ``turns.dismissed``: a supervisor said a missed utterance teaches nothing.
- ``teachings``: each wording a supervisor taught, so it can be undone.
- ``revoked_sessions``: console sessions ended by logging out (a signed cookie stays valid until it expires, so
  logging out must be remembered where every instance can see it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("heartbeat_at", UTC_TIME, nullable=False),
        sa.Column("stopped_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
    )
    op.create_table(
        "teachings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("phrase", sa.Text(), nullable=False),
        sa.Column("turn_ids", sa.JSON(), nullable=False),
        sa.Column("added_example", sa.Boolean(), nullable=False),
        sa.Column("undone_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teachings")),
    )
    op.create_table(
        "revoked_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_revoked_sessions")),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("instance_id", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_calls_instance_id"), ["instance_id"])
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("expects", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("dismissed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("dismissed")
        batch.drop_column("expects")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(batch.f("ix_calls_instance_id"))
        batch.drop_column("instance_id")
    op.drop_table("revoked_sessions")
    op.drop_table("teachings")
    op.drop_table("instances")

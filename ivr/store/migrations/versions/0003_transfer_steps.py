"""What a warm transfer went through (so a supervisor can see why it failed), and caller memory.

- ``transfers.steps``: dialled, answered, machine, accepted/declined, busy, no answer, abandoned… with times.
- ``transfers.fallbacks``: the targets tried after the rule's own, in order.
- ``transfers.agent_call_sid``: the colleague's ringing leg, to cancel it when the caller leaves (any instance).
- ``transfers.line_number``: the service number the caller rang; colleagues see it when Warmline rings them.
- ``calls.caller_key``: caller memory — a keyed hash of the caller's number (never the number itself).
- ``calls.order_number``: the order a call was about, offered to the same caller next time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("fallbacks", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("agent_call_sid", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("line_number", sa.String(length=32), nullable=False, server_default=""))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("order_number", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_calls_caller_key"), ["caller_key"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(batch.f("ix_calls_caller_key"))
        batch.drop_column("order_number")
        batch.drop_column("caller_key")
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("line_number")
        batch.drop_column("agent_call_sid")
        batch.drop_column("fallbacks")
        batch.drop_column("steps")

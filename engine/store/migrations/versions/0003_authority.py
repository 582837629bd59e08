"""authority: how each actor reached the system

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

`history.via` records how the actor reached rectify (cli, web, api, system); rows written
before it existed have NULL (they came through the CLI or the system). `history.os_user` and
`history.seal` (the item as the event left it) tie the item row to its chain; both are NULL on
older rows, which hash as before. `items.original_due_at`, `extensions` (延期申请) and
`admin_log` (the admin actions' own chain) are new.
"""

import sqlalchemy as sa
from alembic import op
from rectify.engine.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("os_user", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_due_at", UTCDateTime(timezone=True),
                                      nullable=True))
    # people.admin: NOT NULL, so existing rows need a value; the server default only fills them
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("admin", server_default=None)
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("entry_no", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_before", UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_requested", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_extensions_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
    )
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_extensions_item_id"), ["item_id"], unique=False)
    op.create_table(
        "admin_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("os_user", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_admin_log")),
    )


def downgrade() -> None:
    op.drop_table("admin_log")
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extensions_item_id"))
    op.drop_table("extensions")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("admin")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("original_due_at")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("seal")
        batch_op.drop_column("os_user")
        batch_op.drop_column("via")

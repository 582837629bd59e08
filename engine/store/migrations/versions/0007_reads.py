"""reads: an index on the item's state alone

Revision ID: 0007_reads
Revises: 0005_notices
Create Date: 2026-12-03

`item list --state S` (and bulk, export, sample with it) without a workflow: the index on
(workflow, state) cannot answer it, so every page scanned the items table. On one state the new
index also yields items in id order, as the lists read them.
"""

from alembic import op

revision = "0007_reads"
down_revision = "0006_weekly"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_state", "items", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_items_state", table_name="items")

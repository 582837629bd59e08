"""report: the weekly report's counts read indexes alone

Revision ID: 0008_report
Revises: 0007_reads
Create Date: 2026-12-03

At a million items `report weekly` read most of the items and history tables. The items created
or closed in a week were found through the time indexes, but each one's unit path (which the
counts group and filter by) was then fetched from the table, row by row: the time indexes now
carry the unit path, so those counts never touch the table. Rejections, 延期 granted and 催办 in
a week were found through `ix_history_at`, every history row of the week fetched to test its
trigger: two partial indexes hold only those rare rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_report"
down_revision = "0007_reads"
branch_labels = None
depends_on = None

REJECTIONS = "\"trigger\" = 'reject'"
AUTHORITY = "\"trigger\" = 'extension:granted' OR kind = 'urge'"


def upgrade() -> None:
    op.drop_index("ix_items_created_at", table_name="items")
    op.drop_index("ix_items_closed_at", table_name="items")
    op.create_index("ix_items_created_path", "items", ["created_at", "unit_path"])
    op.create_index("ix_items_closed_path", "items", ["closed_at", "unit_path"])
    for name, where in (("ix_history_rejections", REJECTIONS),
                        ("ix_history_authority", AUTHORITY)):
        op.create_index(name, "history", ["at"], sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    op.drop_index("ix_history_authority", table_name="history")
    op.drop_index("ix_history_rejections", table_name="history")
    op.drop_index("ix_items_closed_path", table_name="items")
    op.drop_index("ix_items_created_path", table_name="items")
    op.create_index("ix_items_closed_at", "items", ["closed_at"])
    op.create_index("ix_items_created_at", "items", ["created_at"])

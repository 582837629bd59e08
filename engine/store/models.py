"""The database schema: SQLAlchemy 2.0 typed models. Alembic migrations are written against these.

Deadlines and escalation steps are rows, not timers: a sweep finds what is due through the
partial index on `escalation_steps.due_at`, so nothing is lost when no process is running.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes only, stored as UTC; SQLite drops offsets, so UTC is restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: timestamps must carry an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSON}


def table(model: type[Base]) -> Table:
    """A model's Table, typed as one (``__table__`` is declared as a FromClause)."""
    return cast(Table, model.__table__)


class WorkflowVersion(Base):
    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int]
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    file: Mapped[str] = mapped_column(String(500))
    loaded_at: Mapped[datetime]


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    # "/county/town-a/village-a1/": ancestors and subtrees without recursive queries.
    path: Mapped[str] = mapped_column(String(1000), index=True)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    mobile: Mapped[str | None] = mapped_column(String(32))
    # False once a person drops out of the org file: kept for history, but cannot act.
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoleGrant(Base):
    __tablename__ = "role_grants"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), primary_key=True, index=True)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("workflow", "ext_key"),
        Index("ix_items_workflow_state", "workflow", "state"),
        Index("ix_items_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    workflow_version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id"))
    state: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"), index=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    ext_key: Mapped[str | None] = mapped_column(String(100))
    fields: Mapped[dict[str, Any]]
    counts: Mapped[dict[str, Any]]
    cycle_actors: Mapped[dict[str, Any]]
    entry_no: Mapped[int] = mapped_column(default=1)
    entered_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    due_override: Mapped[bool] = mapped_column(Boolean, default=False)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")


class HistoryRow(Base):
    """Append-only. Each row's hash covers its content and the previous row's hash (per item)."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("item_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # create, transition, assign, escalation, migrate
    trigger: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    dest: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class EscalationStepRow(Base):
    """One rung of a ladder for one entry into a state; its unique key makes applying idempotent."""

    __tablename__ = "escalation_steps"
    __table_args__ = (
        UniqueConstraint("item_id", "entry_no", "step_index"),
        Index("ix_escalation_steps_pending", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    entry_no: Mapped[int]
    step_index: Mapped[int]
    state: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime | None]  # NULL once applied or cancelled: leaves the pending index
    planned_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # applied, cancelled
    applied_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    past_deadline: Mapped[bool] = mapped_column(Boolean, default=False)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    unit_id: Mapped[str | None] = mapped_column(String(64))
    recipients: Mapped[dict[str, Any]]
    # NULL until sent for item notices: the dispatcher renders `template` with `data` (the
    # context, fixed when the event happened) and the workflow's `templates_dir`.
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_markdown: Mapped[str | None] = mapped_column(Text)
    templates_dir: Mapped[str | None] = mapped_column(String(1000))
    data: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # sent, failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class CalendarDay(Base):
    """Admin-loaded working-day data; a year with any row here counts as covered."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    workday: Mapped[bool] = mapped_column(Boolean)


class Lease(Base):
    """Leader election for `rectify scheduler`: one row per lease name."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]

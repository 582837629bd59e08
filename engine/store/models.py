"""The database schema: SQLAlchemy Core `Table` metadata, what Alembic compares the migrations
with. The store's modules build their statements on these tables.

Deadlines and escalation steps are rows, not timers: a sweep finds what is due through the
index on `escalation_steps.due_at` (NULL once a step is applied or cancelled), so nothing is
lost when no process is running.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
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
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Core tables, not ORM models: rectify never used a Session or a mapped class, and importing
# sqlalchemy.orm and mapping the classes cost ~150 ms on every CLI start.

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


metadata = MetaData(naming_convention=NAMING)

# Columns are NOT NULL unless they say nullable=True; `default=` values are filled in by
# SQLAlchemy on INSERT (there are no server-side defaults).

WORKFLOW_VERSIONS = Table(
    "workflow_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("file", String(500), nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", "version"),
)

UNITS = Table(
    "units", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", String(64), ForeignKey("units.id"), nullable=True),
    # "/county/town-a/village-a1/": ancestors and subtrees without recursive queries.
    Column("path", String(1000), nullable=False, index=True),
)

PEOPLE = Table(
    "people", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("mobile", String(32), nullable=True),
    # False once a person drops out of the org file: kept for history, but cannot act.
    Column("active", Boolean, nullable=False, default=True),
    # may run org load, workflow load and migrate, calendar load (contract section 6)
    Column("admin", Boolean, nullable=False, default=False),
)

ROLE_GRANTS = Table(
    "role_grants", metadata,
    Column("person_id", String(64), ForeignKey("people.id"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("unit_id", String(64), ForeignKey("units.id"), primary_key=True, index=True),
)

# `final` last: SQLite 3.40 reads a partial index alone only when it holds the columns of its
# own WHERE too (0009); the pages' board counts and the report's bands then never touch the table.
OPEN_ITEM_COLUMNS = ("unit_path", "due_at", "original_due_at", "entered_at", "entry_no", "state",
                     "workflow_version_id", "workflow", "final")

OPEN_BY_ASSIGNEE = ("assignee_id", "due_at", "id", "final")
OPEN_BY_STATE = ("workflow", "state", "due_at", "id", "unit_path", "final")

# The partial indexes' WHERE for PostgreSQL, given to SQLAlchemy when a PostgreSQL database is
# opened (`postgresql_options`): a `postgresql_where=` here would make SQLAlchemy import its
# whole PostgreSQL dialect (35 ms) in every process, SQLite's included, to check the option.
_POSTGRESQL_WHERE: dict[Index, str] = {}


def _partial(name: str, *columns: str, sqlite: str, postgresql: str) -> Index:
    index = Index(name, *columns, sqlite_where=text(sqlite))
    _POSTGRESQL_WHERE[index] = postgresql
    return index


def postgresql_options() -> None:
    """Give the partial indexes their WHERE on PostgreSQL (open_engine, once the dialect is
    loaded); the same again changes nothing."""
    for index, where in _POSTGRESQL_WHERE.items():
        index.dialect_options["postgresql"]["where"] = text(where)


ITEMS = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("workflow_version_id", Integer, ForeignKey("workflow_versions.id"), nullable=False),
    Column("state", String(64), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False, index=True),
    Column("unit_path", String(1000), nullable=False, index=True),
    Column("subject", String(200), nullable=True),
    Column("assignee_id", String(64), ForeignKey("people.id"), nullable=True, index=True),
    Column("creator_id", String(64), ForeignKey("people.id"), nullable=False),
    Column("ext_key", String(100), nullable=True),
    Column("fields", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("cycle_actors", JSON, nullable=False),
    Column("entry_no", Integer, nullable=False, default=1),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=True),
    Column("due_provisional", Boolean, nullable=False, default=False),
    Column("due_override", Boolean, nullable=False, default=False),
    Column("final", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("last_hash", String(64), nullable=False, default=""),
    # the deadline the state entry began with: an item never extended (延期) is judged late
    # against it, whatever later `assign --due` said; NULL before 0.2 (then due_at counts)
    Column("original_due_at", UTCDateTime, nullable=True),
    UniqueConstraint("workflow", "ext_key"),
    Index("ix_items_workflow_state", "workflow", "state"),
    Index("ix_items_state", "state"),  # `--state` without `--workflow` (0007_reads)
    Index("ix_items_due_at", "due_at"),
    # The weekly report counts by these, grouped by unit path: carried here, the counts read
    # the index alone, never the table (0008; 0005 indexed the times only).
    Index("ix_items_created_path", "created_at", "unit_path"),
    Index("ix_items_closed_path", "closed_at", "unit_path"),
    # Open items with what their light needs: the weekly report's bands and red list read
    # this small index instead of the table (0005).
    _partial("ix_items_open", *OPEN_ITEM_COLUMNS, sqlite="final = 0", postgresql="final = false"),
    # A person's open items and each state's, nearest deadline first: the home page walks
    # them in this order and stops at its page (0009).
    _partial("ix_items_open_assignee", *OPEN_BY_ASSIGNEE, sqlite="final = 0",
             postgresql="final = false"),
    _partial("ix_items_open_state", *OPEN_BY_STATE, sqlite="final = 0",
             postgresql="final = false"),
)

HISTORY_REJECTIONS = "\"trigger\" = 'reject'"
HISTORY_AUTHORITY = "\"trigger\" = 'extension:granted' OR kind = 'urge'"

# Append-only. Each row's hash covers its content and the previous row's hash (per item).
HISTORY = Table(
    "history", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    # create, transition, assign, escalation, migrate
    Column("kind", String(16), nullable=False),
    Column("trigger", String(64), nullable=True),
    Column("source", String(64), nullable=True),
    Column("dest", String(64), nullable=True),
    Column("actor", String(64), nullable=False),
    # how the actor reached rectify: cli, web, api, system (NULL on rows from before 0.2)
    Column("via", String(8), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", Text, nullable=True),
    Column("data", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # the operating-system account behind a CLI row (NULL on other rows and before 0.2)
    Column("os_user", String(64), nullable=True),
    # digest of the item as this event left it (audit.item_seal); NULL before 0.2
    Column("seal", String(64), nullable=True),
    UniqueConstraint("item_id", "seq"),
    Index("ix_history_at", "at"),  # events in a week, for the weekly report (0005)
    # The few rows the weekly report counts (rejections; 延期 granted and 催办), by time, so it
    # never reads a week's whole history to find them (0008). store/figures.py's queries
    # repeat these conditions, or neither database would use the index.
    _partial("ix_history_rejections", "at", sqlite=HISTORY_REJECTIONS,
             postgresql=HISTORY_REJECTIONS),
    _partial("ix_history_authority", "at", sqlite=HISTORY_AUTHORITY, postgresql=HISTORY_AUTHORITY),
)

# One rung of a ladder for one entry into a state; its unique key makes applying idempotent.
ESCALATION_STEPS = Table(
    "escalation_steps", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("entry_no", Integer, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("state", String(64), nullable=False),
    # NULL once applied or cancelled: leaves the pending index
    Column("due_at", UTCDateTime, nullable=True),
    Column("planned_at", UTCDateTime, nullable=False),
    # pending, then applied or cancelled
    Column("status", String(16), nullable=False, default="pending"),
    Column("applied_at", UTCDateTime, nullable=True),
    Column("late", Boolean, nullable=False, default=False),
    Column("past_deadline", Boolean, nullable=False, default=False),
    UniqueConstraint("item_id", "entry_no", "step_index"),
    Index("ix_escalation_steps_pending", "due_at"),
    Index("ix_escalation_steps_applied_at", "applied_at"),  # steps applied in a week (0005)
)

ATTACHMENTS = Table(
    "attachments", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

OUTBOX = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("channel", String(64), nullable=False),
    Column("template", String(64), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=True, index=True),
    Column("unit_id", String(64), nullable=True),
    Column("recipients", JSON, nullable=False),
    # NULL until sent for item notices: the dispatcher renders `template` with `data` (the
    # context, fixed when the event happened) and the workflow's `templates_dir`.
    Column("subject", Text, nullable=True),
    Column("body_text", Text, nullable=True),
    Column("body_markdown", Text, nullable=True),
    Column("templates_dir", String(1000), nullable=True),
    Column("data", JSON, nullable=False),
    # pending, then sent or failed
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # Late escalation notices of one sweep to the same people: sent as one (migration 0005).
    Column("fold_key", String(80), nullable=True, index=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

# The periods (a day, an ISO week) the scheduler's periodic jobs were done for.
JOB_RUNS = Table(
    "job_runs", metadata,
    Column("job", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("ran_at", UTCDateTime, nullable=False),
)

# Admin-loaded working-day data; a year with any row here counts as covered.
CALENDAR_DAYS = Table(
    "calendar_days", metadata,
    Column("day", Date, primary_key=True),
    Column("year", Integer, nullable=False, index=True),
    Column("workday", Boolean, nullable=False),
)

# Leader election for `rectify scheduler`: one row per lease name.
LEASES = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# 延期申请: one request per row; its history rows (request, decision) carry the same facts.
EXTENSIONS = Table(
    "extensions", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False, index=True),
    Column("entry_no", Integer, nullable=False),
    Column("state", String(64), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("due_before", UTCDateTime, nullable=False),
    Column("due_requested", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    # pending, then granted or refused
    Column("status", String(16), nullable=False, default="pending"),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("comment", Text, nullable=True),
)

# Admin actions (org load, workflow load and migrate, calendar load): a hash chain of its own.
ADMIN_LOG = Table(
    "admin_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("actor", String(64), nullable=False),
    Column("os_user", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("target", String(1000), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- identity (0004): proven people for the web and the API --------------------------------------

# One Argon2 hash per person who may log in (the hash names its own parameters and salt).
PASSWORDS = Table(
    "passwords", metadata,
    Column("person_id", String(64), ForeignKey("people.id"), primary_key=True),
    Column("hash", String(200), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

# API tokens: only a SHA-256 of the token is kept (tokens are long random strings, so a slow
# hash adds nothing but time on every request); revoked tokens stay, for the record.
API_TOKENS = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("person_id", String(64), ForeignKey("people.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Server-side sessions: the cookie carries a random id; only its SHA-256 is stored, so a copy
# of the database opens no session.
WEB_SESSIONS = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("person_id", String(64), ForeignKey("people.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Every login attempt, kept for throttling (per person and per address) and for the record.
# `person_id` is what was typed: not a foreign key, it may name nobody.
LOGIN_ATTEMPTS = Table(
    "login_attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_login_attempts_person_at", "person_id", "at"),
    Index("ix_login_attempts_address_at", "address", "at"),
)

"""The store's side of authority (contract section 6): who works where, extension requests,
the admin log. Functions over a Connection; the use cases decide the transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from ..core.audit import GENESIS, admin_hash
from .models import ADMIN_LOG, EXTENSIONS, HISTORY, PEOPLE, ROLE_GRANTS, UNITS


def serves(conn: Connection, person: str, unit_path: str) -> bool:
    """Whether `person` holds a role at the unit with `unit_path`, above it or below it."""
    row = conn.execute(
        select(ROLE_GRANTS.c.role).join(UNITS, UNITS.c.id == ROLE_GRANTS.c.unit_id)
        .where(ROLE_GRANTS.c.person_id == person,
               or_(func.substr(unit_path, 1, func.length(UNITS.c.path)) == UNITS.c.path,
                   UNITS.c.path.startswith(unit_path, autoescape=True)))
        .limit(1)).first()
    return row is not None


def roles_by_unit(conn: Connection, person: str) -> dict[str, set[str]]:
    """The roles `person` holds, by unit id."""
    out: dict[str, set[str]] = {}
    for unit_id, role in conn.execute(select(ROLE_GRANTS.c.unit_id, ROLE_GRANTS.c.role)
                                      .where(ROLE_GRANTS.c.person_id == person)):
        out.setdefault(unit_id, set()).add(role)
    return out


def any_admin(conn: Connection) -> bool:
    """Whether an org with an admin has been loaded (then only admins run admin commands)."""
    return conn.execute(select(PEOPLE.c.id).where(PEOPLE.c.admin.is_(True),
                                                   PEOPLE.c.active.is_(True)).limit(1)
                        ).first() is not None


def record_admin(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """Append an admin action to its chain (the caller's transaction; the log's head is read
    locked on PostgreSQL so two admins append one after the other)."""
    last = conn.execute(select(ADMIN_LOG.c.seq, ADMIN_LOG.c.hash)
                        .order_by(ADMIN_LOG.c.seq.desc()).limit(1).with_for_update()).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    values = {**row, "seq": seq, "prev_hash": prev}
    values["hash"] = admin_hash(prev, values)
    conn.execute(insert(ADMIN_LOG).values(**values))
    return values


# --- 延期申请 (extensions) ---------------------------------------------------------------------

def pending_request(conn: Connection, item_id: int, entry_no: int) -> dict[str, Any] | None:
    """The request waiting for a decision in this state entry, if any."""
    row = conn.execute(select(EXTENSIONS).where(
        EXTENSIONS.c.item_id == item_id, EXTENSIONS.c.entry_no == entry_no,
        EXTENSIONS.c.status == "pending").order_by(EXTENSIONS.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def granted_count(conn: Connection, item_id: int, entry_no: int) -> int:
    return int(conn.execute(select(func.count()).select_from(EXTENSIONS).where(
        EXTENSIONS.c.item_id == item_id, EXTENSIONS.c.entry_no == entry_no,
        EXTENSIONS.c.status == "granted")).scalar_one())


def insert_request(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(EXTENSIONS).values(**values, status="pending"))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def decide_request(conn: Connection, request_id: int, status: str, by: str, at: Any,
                   comment: str | None) -> bool:
    """Mark a pending request decided; False when someone decided it first (the conditional
    UPDATE matches no row: a second approver waits for the first, then finds it decided)."""
    return conn.execute(update(EXTENSIONS).where(EXTENSIONS.c.id == request_id,
                                                 EXTENSIONS.c.status == "pending")
                        .values(status=status, decided_by=by, decided_at=at, comment=comment)
                        ).rowcount == 1


def latest_request(conn: Connection, item_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(EXTENSIONS).where(EXTENSIONS.c.item_id == item_id)
                       .order_by(EXTENSIONS.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


# --- 会签 (countersign) -------------------------------------------------------------------------

_ENTRY_KINDS = ("create", "transition", "migrate")


def entry_signatures(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    """The signature rows of the item's current state entry (after its last entry row)."""
    began = (select(func.coalesce(func.max(HISTORY.c.seq), 0))
             .where(HISTORY.c.item_id == item_id, HISTORY.c.kind.in_(_ENTRY_KINDS))
             .scalar_subquery())
    rows = conn.execute(select(HISTORY.c.trigger, HISTORY.c.actor, HISTORY.c.data,
                               HISTORY.c.at, HISTORY.c.comment)
                        .where(HISTORY.c.item_id == item_id, HISTORY.c.kind == "signature",
                               HISTORY.c.seq > began).order_by(HISTORY.c.seq))
    return [dict(r._mapping) for r in rows]

"""Identity rows: password hashes, API tokens, server-side sessions and login attempts.

Plain SQL on the 0004 tables; what a password or a token means (hashing, throttling, who may
log in) is decided in `engine/app/identity.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from .models import (
    API_TOKENS,
    ITEMS,
    LOGIN_ATTEMPTS,
    PASSWORDS,
    PEOPLE,
    UNITS,
    WEB_SESSIONS,
)
from .models import ROLE_GRANTS as GRANTS
from .prepared import Prepared


class Holder(NamedTuple):
    """The active person a password, token or session belongs to."""

    id: str
    name: str


class SessionRow(NamedTuple):
    person: Holder
    csrf: str
    expires_at: datetime


def active_person(conn: Connection, person_id: str) -> Holder | None:
    row = conn.execute(select(PEOPLE.c.id, PEOPLE.c.name)
                       .where(PEOPLE.c.id == person_id, PEOPLE.c.active.is_(True))).first()
    return Holder(*row) if row else None


def person_exists(conn: Connection, person_id: str) -> bool:
    return conn.execute(select(PEOPLE.c.id).where(PEOPLE.c.id == person_id)).first() is not None


# --- passwords ----------------------------------------------------------------------------------

def password_hash(conn: Connection, person_id: str) -> str | None:
    return conn.execute(select(PASSWORDS.c.hash)
                        .where(PASSWORDS.c.person_id == person_id)).scalar()


def set_password_hash(conn: Connection, person_id: str, hashed: str, now: datetime) -> None:
    done = conn.execute(update(PASSWORDS).where(PASSWORDS.c.person_id == person_id)
                        .values(hash=hashed, set_at=now))
    if not done.rowcount:
        conn.execute(insert(PASSWORDS).values(person_id=person_id, hash=hashed, set_at=now))


# --- tokens -------------------------------------------------------------------------------------

def token_name_taken(conn: Connection, name: str) -> bool:
    return conn.execute(select(API_TOKENS.c.id).where(API_TOKENS.c.name == name)).first() \
        is not None


def count_tokens(conn: Connection, person_id: str) -> int:
    return conn.execute(select(func.count()).select_from(API_TOKENS)
                        .where(API_TOKENS.c.person_id == person_id)).scalar_one()


def add_token(conn: Connection, name: str, person_id: str, token_hash: str,
              now: datetime) -> None:
    conn.execute(insert(API_TOKENS).values(name=name, person_id=person_id,
                                           token_hash=token_hash, created_at=now))


def revoke_token(conn: Connection, name: str, now: datetime) -> str | None:
    """Revoke a live token by name: its stored hash; None when no live token has that name."""
    return conn.execute(update(API_TOKENS)
                        .where(API_TOKENS.c.name == name, API_TOKENS.c.revoked_at.is_(None))
                        .values(revoked_at=now).returning(API_TOKENS.c.token_hash)).scalar()


# Every API request and page runs one of these (prepared.py: compiled once, no per-call
# statement building, which cost more than the query).
_TOKEN_HOLDER = Prepared(
    select(PEOPLE.c.id, PEOPLE.c.name).join(API_TOKENS, API_TOKENS.c.person_id == PEOPLE.c.id)
    .where(API_TOKENS.c.token_hash == bindparam("token"), API_TOKENS.c.revoked_at.is_(None),
           PEOPLE.c.active.is_(True)))
_SESSION = Prepared(
    select(PEOPLE.c.id, PEOPLE.c.name, WEB_SESSIONS.c.csrf, WEB_SESSIONS.c.expires_at)
    .join(WEB_SESSIONS, WEB_SESSIONS.c.person_id == PEOPLE.c.id)
    .where(WEB_SESSIONS.c.id_hash == bindparam("id"), WEB_SESSIONS.c.expires_at > bindparam("now"),
           PEOPLE.c.active.is_(True)))
_GRANT_PATHS = Prepared(
    select(UNITS.c.path).distinct().join(GRANTS, GRANTS.c.unit_id == UNITS.c.id)
    .where(GRANTS.c.person_id == bindparam("person")))
_ITEM_UNIT_PATH = Prepared(select(ITEMS.c.unit_path).where(ITEMS.c.id == bindparam("item")))


def token_holder(conn: Connection, token_hash: str) -> Holder | None:
    """The active person holding this live token."""
    found = _TOKEN_HOLDER.rows(conn, {"token": token_hash})
    return Holder(*found[0]) if found else None


# --- sessions -----------------------------------------------------------------------------------

def add_session(conn: Connection, id_hash: str, person_id: str, csrf: str, now: datetime,
                expires_at: datetime) -> None:
    conn.execute(insert(WEB_SESSIONS).values(id_hash=id_hash, person_id=person_id, csrf=csrf,
                                             created_at=now, expires_at=expires_at))


def session(conn: Connection, id_hash: str, now: datetime) -> SessionRow | None:
    """A live session of an active person."""
    found = _SESSION.rows(conn, {"id": id_hash, "now": now})
    if not found:
        return None
    person, name, csrf, expires_at = found[0]
    return SessionRow(Holder(person, name), csrf, expires_at)


def drop_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(WEB_SESSIONS).where(WEB_SESSIONS.c.id_hash == id_hash))


def drop_expired_sessions(conn: Connection, now: datetime) -> int:
    return conn.execute(delete(WEB_SESSIONS).where(WEB_SESSIONS.c.expires_at <= now)).rowcount


# --- login attempts -----------------------------------------------------------------------------

def record_attempt(conn: Connection, person_id: str, address: str, now: datetime,
                   ok: bool) -> None:
    conn.execute(insert(LOGIN_ATTEMPTS).values(person_id=person_id[:64], address=address[:64],
                                               at=now, ok=ok))


def recent_failures(conn: Connection, column: str, key: str,
                    since: datetime) -> tuple[int, datetime | None]:
    """Failures for one person or address since `since` and after its last success:
    how many, and when the latest was."""
    col = LOGIN_ATTEMPTS.c[column]
    last_ok = conn.execute(select(func.max(LOGIN_ATTEMPTS.c.at))
                           .where(col == key, LOGIN_ATTEMPTS.c.ok.is_(True))).scalar()
    if last_ok is not None and last_ok >= since:
        since_ok = LOGIN_ATTEMPTS.c.at > last_ok
    else:
        since_ok = LOGIN_ATTEMPTS.c.at >= since
    row = conn.execute(select(func.count(), func.max(LOGIN_ATTEMPTS.c.at))
                       .where(col == key, LOGIN_ATTEMPTS.c.ok.is_(False), since_ok)).one()
    return int(row[0]), row[1]


# --- visibility ---------------------------------------------------------------------------------

def grant_paths(conn: Connection, person_id: str) -> list[str]:
    """The paths of the units where the person holds any role."""
    return [row[0] for row in _GRANT_PATHS.rows(conn, {"person": person_id})]


def item_unit_path(conn: Connection, item_id: int) -> str | None:
    found = _ITEM_UNIT_PATH.rows(conn, {"item": item_id})
    return found[0][0] if found else None

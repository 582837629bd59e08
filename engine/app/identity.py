"""Proven identities: passwords (Argon2), API tokens, server-side sessions, throttled logins.

The web and the API never trust a name they are told; they ask this module who a password,
a token or a session cookie belongs to. Only active people (still in the org file) pass.
Secrets are never stored: passwords as Argon2 hashes, tokens and session ids as SHA-256
(both are long random strings, so a fast hash is as safe and costs nothing per request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from ...engine.core.i18n import N_, _, ngettext, translate
from ..core.errors import NotFound, RectifyError, UsageError
from ..store import identity as rows
from ..store.authority import record_admin
from ..store.db import read, write
from ..store.trips import read_in_one_trip

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from sqlalchemy import Connection

    from .service import Service

# Throttling: this many failures in a row (within WINDOW, since the last success) are free;
# after that each further attempt must wait twice as long as the one before, up to MAX_WAIT.
# Per address the allowance is larger: an office behind one NAT address has many people.
PERSON_FREE, ADDRESS_FREE = 5, 30
WINDOW = timedelta(hours=1)
MAX_WAIT = timedelta(minutes=15)
WRONG = N_("wrong person or password")  # the same words whether or not the person exists
TOKEN_PREFIX = "rt_"


@dataclass(frozen=True)
class Person:
    """Who a request acts as, once proven."""

    id: str
    name: str


@dataclass(frozen=True)
class Session:
    person: Person
    csrf: str
    expires_at: datetime


class LoginRefused(RectifyError):
    """A login that did not succeed; `wait` > 0 when it was not even tried (throttled)."""

    def __init__(self, message: str | None = None, *, wait: int = 0) -> None:
        self.wait = wait
        super().__init__(message or translate(WRONG))


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher  # only where passwords are set or checked

    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    """Verified against when the person has no password, so a login takes as long either way."""
    return _hasher().hash(secrets.token_urlsafe(16))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _person(holder: rows.Holder) -> Person:
    return Person(holder.id, holder.name)


# --- passwords and tokens (the CLI's `user password`, `token create/revoke`) ----------------

def set_password(service: Service, person_id: str, password: str, *, min_length: int,
                 actor_id: str | None = None) -> None:
    """Set a person's password; recorded in the admin log (who, the OS account, whose
    password, a digest of the stored hash), as is every token made or revoked: giving
    someone a way in leaves a trace (`rectify audit log`)."""
    if len(password) < min_length:
        raise UsageError(_("a password needs at least {min_length} characters").format(
                             min_length=min_length))
    hashed = _hasher().hash(password)
    with write(service.engine) as conn:
        if rows.active_person(conn, person_id) is None:
            raise NotFound("person", person_id)
        rows.set_password_hash(conn, person_id, hashed, service.clock.now())
        _logged(service, conn, actor_id, "user password", person_id, digest(hashed))


def create_token(service: Service, person_id: str, name: str | None = None, *,
                 actor_id: str | None = None) -> tuple[str, str]:
    """A new token for an active person: (its name, the token itself, shown only this once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write(service.engine) as conn:
        if rows.active_person(conn, person_id) is None:
            raise NotFound("person", person_id)
        if name is None:
            name = f"{person_id}-{rows.count_tokens(conn, person_id) + 1}"
            while rows.token_name_taken(conn, name):
                name = f"{person_id}-{secrets.token_hex(3)}"
        elif rows.token_name_taken(conn, name):
            raise UsageError(_("a token named {name!r} exists already; choose "
                               "another --name").format(name=name))
        rows.add_token(conn, name, person_id, digest(token), service.clock.now())
        _logged(service, conn, actor_id, "token create", f"{name} ({person_id})",
                digest(token))
    return name, token


def revoke_token(service: Service, name: str, *, actor_id: str | None = None) -> None:
    with write(service.engine) as conn:
        revoked = rows.revoke_token(conn, name, service.clock.now())
        if revoked is None:
            raise NotFound("token", name)
        _logged(service, conn, actor_id, "token revoke", name, revoked)


def _logged(service: Service, conn: Connection, actor_id: str | None, action: str,
            target: str, hashed: str) -> None:
    """The admin log's row for a way in given or taken away, in the same transaction. The
    digest ties it to what was stored (never the secret itself: its SHA-256, or the Argon2
    hash's)."""
    record_admin(conn, {"actor": actor_id or "-", "os_user": service.os_user,
                        "action": action, "target": target, "digest": hashed,
                        "at": service.clock.now()})


def token_person(service: Service, token: str) -> Person | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    # Every API request asks this: one statement, so one round trip (no BEGIN or COMMIT).
    with read_in_one_trip(service.engine) as conn:
        holder = rows.token_holder(conn, digest(token))
    return _person(holder) if holder else None


# --- logins -----------------------------------------------------------------------------------

def log_in(service: Service, person_id: str, password: str, address: str) -> Person:
    """The person, if the password is theirs and they are active; else LoginRefused.

    Throttled attempts are refused before any password is checked and are not counted again:
    a guesser cannot learn anything while waiting, and the wait does not grow without bound."""
    now = service.clock.now()
    person_id = person_id.strip()[:64]
    with read(service.engine) as conn:
        wait = max(_wait(conn, "person_id", person_id, PERSON_FREE, now),
                   _wait(conn, "address", address, ADDRESS_FREE, now))
        holder = rows.active_person(conn, person_id) if person_id else None
        stored = rows.password_hash(conn, person_id) if holder else None
    if wait:
        raise LoginRefused(ngettext("too many failed logins; try again in {wait} second",
                                    "too many failed logins; try again in {wait} seconds",
                                    wait).format(wait=wait), wait=wait)
    ok = _verify(stored, password) and holder is not None
    with write(service.engine) as conn:
        rows.record_attempt(conn, person_id, address, now, ok)
    if not ok or holder is None:
        raise LoginRefused()
    return _person(holder)


def _verify(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored or _decoy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _wait(conn: Connection, column: str, key: str, free: int, now: datetime) -> int:
    """Seconds still to wait before the next attempt for this person or address."""
    failures, last = rows.recent_failures(conn, column, key, now - WINDOW)
    if failures < free or last is None:
        return 0
    pause = min(timedelta(seconds=2 ** (failures - free)), MAX_WAIT)
    left = last + pause - now
    return max(0, int(left.total_seconds() + 0.999))


# --- sessions ---------------------------------------------------------------------------------

def start_session(service: Service, person: Person, *, hours: int) -> tuple[str, Session]:
    """A new server-side session: (the id for the cookie, the session)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = service.clock.now()
    expires = now + timedelta(hours=hours)
    with write(service.engine) as conn:
        rows.drop_expired_sessions(conn, now)  # housekeeping: logins are rare enough
        rows.add_session(conn, digest(session_id), person.id, csrf, now, expires)
    return session_id, Session(person, csrf, expires)


def session(service: Service, session_id: str) -> Session | None:
    """The live session of an active person with this id, if any."""
    if not session_id:
        return None
    with read_in_one_trip(service.engine) as conn:  # as token_person: every request asks
        found = rows.session(conn, digest(session_id), service.clock.now())
    return Session(_person(found.person), found.csrf, found.expires_at) if found else None


def end_session(service: Service, session_id: str) -> None:
    with write(service.engine) as conn:
        rows.drop_session(conn, digest(session_id))

"""Identities behind the front door, on SQLite and PostgreSQL: `rectify user password` and
`rectify token create/revoke`, Argon2 hashes and hashed tokens at rest, sessions that expire
and end at logout, and login throttling that a success resets."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from rectify.engine.app import identity
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import read
from rectify.engine.store.models import API_TOKENS, PASSWORDS, WEB_SESSIONS
from sqlalchemy import select

from .cli_inprocess import Rectify

PASSWORD = "correct horse battery"


@pytest.fixture
def rectify(service: Service, db_url: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    return Rectify(db_url, capsys, monkeypatch)


def test_user_password_from_stdin(service: Service, rectify: Rectify,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The password is read from stdin (not a terminal), checked for length, stored as an
    Argon2 hash; an unknown person is exit 4 and a short password exit 2, each in one line."""
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    short = rectify("user", "password", "zhang")
    assert short.code == 2 and short.err.strip().count("\n") == 0 and "10" in short.err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert rectify("user", "password", "nobody").code == 4
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    rectify.ok("user", "password", "zhang")
    with read(service.engine) as conn:
        stored = conn.execute(select(PASSWORDS.c.hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert identity.log_in(service, "zhang", PASSWORD, "10.0.0.1").name == "张三"
    with pytest.raises(identity.LoginRefused):
        identity.log_in(service, "zhang", PASSWORD + "x", "10.0.0.1")


def test_token_create_and_revoke(service: Service, rectify: Rectify) -> None:
    """`token create` prints the token once (only its hash is kept); it names the person;
    `token revoke` ends it; revoking an unknown name is exit 4."""
    made = rectify("token", "create", "zhou", "--name", "ci", as_json=True)
    assert made.code == 0, made.err
    token = made.json()["token"]
    assert identity.token_person(service, token) == identity.Person("zhou", "周九")
    with read(service.engine) as conn:
        assert token not in str(conn.execute(select(API_TOKENS)).all())
    again = rectify("token", "create", "zhou", "--name", "ci")
    assert again.code == 2 and "ci" in again.err
    plain = rectify.ok("token", "create", "zhou")
    assert plain.out.strip().startswith(identity.TOKEN_PREFIX) and "zhou-2" in plain.err
    rectify.ok("token", "revoke", "ci")
    assert identity.token_person(service, token) is None
    assert rectify("token", "revoke", "no-such").code == 4


def test_ways_in_given_and_taken_are_in_the_admin_log(service: Service, rectify: Rectify,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A password set, a token made and a token revoked are each a row of the admin log (who,
    whose, a digest of what was stored, never the secret), in its verified chain; a refused
    one (unknown person, short password) leaves no row."""
    before = len(rectify.ok("audit", "log", as_json=True).json())
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert rectify("user", "password", "zhang").code == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    rectify.ok("user", "password", "zhang", actor="wang")
    made = rectify("token", "create", "zhou", "--name", "sync", as_json=True).json()
    rectify.ok("token", "revoke", "sync", actor="wang")
    log = rectify.ok("audit", "log", as_json=True).json()[before:]
    assert [(r["action"], r["target"], r["actor"]) for r in log] == [
        ("user password", "zhang", "wang"), ("token create", "sync (zhou)", "-"),
        ("token revoke", "sync", "wang")]
    with read(service.engine) as conn:
        stored = conn.execute(select(PASSWORDS.c.hash)).scalar_one()
        token_hash = conn.execute(select(API_TOKENS.c.token_hash)).scalar_one()
    assert log[0]["digest"] == identity.digest(stored)
    assert log[1]["digest"] == log[2]["digest"] == token_hash == identity.digest(made["token"])
    assert PASSWORD not in str(log) and made["token"] not in str(log)
    assert rectify.ok("audit", "verify", as_json=True).json()["ok"] is True
    table = rectify.ok("audit", "log").out
    assert "token revoke" in table and "sync (zhou)" in table


def test_sessions_expire_and_end(service: Service, clock: FixedClock) -> None:
    """A session is found by its id until it expires or is logged out; only a hash of the id
    is stored."""
    person = identity.Person("zhang", "张三")
    session_id, session = identity.start_session(service, person, hours=12)
    assert identity.session(service, session_id) == session
    with read(service.engine) as conn:
        assert session_id not in str(conn.execute(select(WEB_SESSIONS)).all())
    clock.advance(timedelta(hours=12))
    assert identity.session(service, session_id) is None
    clock.advance(timedelta(hours=-12))
    identity.end_session(service, session_id)
    assert identity.session(service, session_id) is None
    assert identity.session(service, "") is None


def test_throttle_waits_grow_and_a_success_resets(service: Service, clock: FixedClock) -> None:
    """After the free failures each attempt must wait longer (1 s, 2 s, ...); once the wait is
    over the right password gets in, and the count starts again from zero."""
    identity.set_password(service, "sun", PASSWORD, min_length=10)
    for _ in range(identity.PERSON_FREE):
        with pytest.raises(identity.LoginRefused) as wrong:
            identity.log_in(service, "sun", "guess", "10.0.0.2")
        assert wrong.value.wait == 0
    with pytest.raises(identity.LoginRefused) as throttled:
        identity.log_in(service, "sun", PASSWORD, "10.0.0.2")
    assert throttled.value.wait == 1
    clock.advance(timedelta(seconds=1))
    with pytest.raises(identity.LoginRefused):
        identity.log_in(service, "sun", "guess", "10.0.0.2")
    with pytest.raises(identity.LoginRefused) as longer:
        identity.log_in(service, "sun", PASSWORD, "10.0.0.2")
    assert longer.value.wait == 2
    clock.advance(timedelta(seconds=2))
    assert identity.log_in(service, "sun", PASSWORD, "10.0.0.2").id == "sun"
    with pytest.raises(identity.LoginRefused) as fresh:
        identity.log_in(service, "sun", "guess", "10.0.0.2")
    assert fresh.value.wait == 0

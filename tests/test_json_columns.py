"""JSON columns go through orjson (engine/store/db.py): what the standard library wrote or would
write must come back unchanged, on both backends."""

from __future__ import annotations

import json

import pytest
from rectify.engine.store import db
from rectify.engine.store.outbox import OUTBOX
from sqlalchemy import select

VALUES = [
    {"问题描述": "户档案信息不全", "n": 3, "amount": 1.5e16, "ok": True, "none": None},
    {"nested": [{"name": "甲.jpg"}, 2, [3.25]]},
    {"big": 2**70},  # beyond orjson's 64 bits: the standard library writes it
    {1: "integer key"},  # written as "1", as json.dumps does
    {"control": "a\nb\t\"c\"\\ \u2028"},
]


@pytest.mark.parametrize("value", VALUES)
def test_round_trip_matches_the_standard_library(value):
    """Each JSON column value reads back as the standard library would have read it."""
    assert db.loads(db.dumps(value)) == json.loads(json.dumps(value))


def test_what_the_standard_library_wrote_still_reads():
    """Rows the standard library wrote before (NaN, escaped Chinese, bytes) still read."""
    assert db.loads('{"x": NaN, "y": "\\u6237"}')["y"] == "户"
    assert db.loads(b'{"a": 1}') == {"a": 1}


def test_json_columns_through_the_engine(db_url):
    """A real row on SQLite and PostgreSQL, written and read by SQLAlchemy with our codec."""
    from datetime import UTC, datetime

    engine = db.open_engine(db_url)
    db.upgrade(engine)
    now = datetime(2025, 9, 26, 2, tzinfo=UTC)
    data = VALUES[0] | {"big": 2**70}
    with db.write(engine) as conn:
        conn.execute(OUTBOX.insert().values(
            dedupe_key="k", channel="log", template="t", recipients={"people": []}, data=data,
            status="pending", attempts=0, next_attempt_at=now, created_at=now))
    with db.read(engine) as conn:
        assert conn.execute(select(OUTBOX.c.data)).scalar_one() == data
    engine.dispose()


@pytest.mark.parametrize("raw", ["nan", "inf", "-Infinity", float("nan")])
def test_a_number_field_refuses_what_json_cannot_carry(raw):
    """A number field refuses NaN and infinities, with the field's label, since JSON
    columns cannot carry them."""
    from rectify.engine.core.errors import Refused
    from rectify.engine.core.fields import coerce
    from rectify.engine.core.loader import load_workflow

    spec = load_workflow("""
workflow: w
roles: {clerk: 办事员}
initial: a
fields:
  attendees: {type: number, label: 实到人数}
states:
  a: {label: 甲}
  b: {label: 乙, final: true}
transitions:
  - {trigger: go, source: a, dest: b, roles: [clerk]}
""")
    with pytest.raises(Refused, match=r"实到人数 \(attendees\) must be a number"):
        coerce(spec, "attendees", raw)
    assert coerce(spec, "attendees", " 12 ") == 12

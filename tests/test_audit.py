"""The audit hash's canonical JSON: the fast path writes exactly the bytes of the original one.

Every stored hash was computed with the standard library's encoder (sorted keys, compact, no
ASCII escaping, str() for anything else). `canonical` takes orjson for plain content; if the two
ever differed on any value, `audit verify` would report rows written before as tampered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st
from rectify.engine.core.audit import _plain, canonical

_STDLIB = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.datetimes(timezones=st.just(UTC)) | st.uuids())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(), inner, max_size=4)
    | st.dictionaries(st.integers(), inner, max_size=2),
    max_leaves=20)


def _reference(content: object) -> bytes:
    return _STDLIB.encode(content).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=8))
def test_canonical_bytes_equal_the_standard_encoders(content: dict[str, object]) -> None:
    """Property: the fast canonical encoding gives the same bytes as the standard
    library's, so old hash chains still verify."""
    try:
        expected = _reference(content)
    except (TypeError, ValueError, UnicodeEncodeError):
        return  # mixed key types, lone surrogates: the original refused these too
    assert canonical(content) == expected


def test_values_that_orjson_would_write_differently_take_the_original_encoder() -> None:
    """Floats in exponent form, NaN, huge integers and other awkward values leave the
    fast path and still encode exactly as before."""
    awkward = [1e-05, 1e16, float("nan"), float("inf"), 2**70, -(2**64),
               UUID(int=7), datetime(2025, 1, 1, tzinfo=UTC), {1: "int key"}]
    for value in awkward:
        content = {"data": {"value": value}}
        assert not _plain(content) or value == 2**70 or value == -(2**64)
        assert canonical(content) == _reference(content)


def test_plain_content_takes_the_fast_path() -> None:
    """A typical history row (strings, numbers, None, nested lists and dicts, Chinese
    and escapes) takes the fast path with the same bytes."""
    content = {"item": 1, "seq": 2, "kind": "escalation", "at": "2025-09-26T02:00:00+00:00",
               "comment": None, "data": {"late": False, "notify": ["assignee"],
                                         "text": "问题描述\n\"引号\"\\", "pair": (1, "x")}}
    assert _plain(content)
    assert canonical(content) == _reference(content)

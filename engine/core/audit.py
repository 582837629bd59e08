"""Tamper evidence: each history row's hash covers its content and the previous row's hash.

Pure: the store computes hashes when it appends and `verify_chain` recomputes them. Editing,
deleting or reordering any row of an item's history breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from .i18n import Text, _, later

GENESIS = "0" * 64
# The canonical form every hash covers. Made once: json.dumps with options builds a new encoder
# per call, a third of the cost of hashing a row. Never change these options: every stored
# hash was computed with them.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str)
# orjson writes the same bytes for strings, integers, booleans, None, lists and str-keyed dicts
# (tests/test_audit.py checks it), ten times faster; anything else (floats: orjson writes 1e-5
# and null for NaN where the canonical form has 1e-05 and NaN) takes the encoder above.
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_LATER_COLUMNS = ("via", "os_user", "seal")

# The item columns a history row seals: what the item is after the event. An edit of any of them
# in the database, without a history row, no longer matches the seal of the chain's head.
SEALED = ("workflow_version_id", "state", "entry_no", "unit_id", "assignee_id", "due_at",
          "fields")


def item_seal(item: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of the sealed columns (times in UTC: SQLite returns
    them so, whatever offset they were written with)."""
    due = item["due_at"]
    if due is not None:  # read back it is UTC already (cached: a sweep batch shares a few)
        due = isoformat(due if not due.utcoffset() else due.astimezone(UTC))
    content = {"workflow_version_id": item["workflow_version_id"], "state": item["state"],
               "entry_no": item["entry_no"], "unit_id": item["unit_id"],
               "assignee_id": item["assignee_id"], "due_at": due, "fields": item["fields"]}
    return hashlib.sha256(canonical(content)).hexdigest()


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """sha256 over the previous hash and a canonical JSON of the row's content."""
    data = row.get("data") or {}
    content = {
        "item": row["item_id"], "seq": row["seq"], "kind": row["kind"],
        "trigger": row.get("trigger"), "source": row.get("source"), "dest": row.get("dest"),
        "actor": row["actor"], "at": _iso(row["at"]), "comment": row.get("comment"),
        "data": data,
    }
    # Columns added in 0.2 are covered only when set, so a row written before them (NULL)
    # hashes exactly as it did then and every older chain still verifies.
    for key in _LATER_COLUMNS:
        value = row.get(key)
        if value is not None:
            content[key] = value
    # The row's own columns are ints, strings or None (the history table's types); only
    # `data` is free-form, so only it needs looking at.
    return hashlib.sha256(prev_hash.encode("utf-8")
                          + canonical(content, plain=_plain(data))).hexdigest()


def canonical(content: Mapping[str, Any], *, plain: bool | None = None) -> bytes:
    """The canonical JSON of a history row's content, as UTF-8. `plain`: whether the caller
    already knows that the content holds only what orjson writes the same way (see _plain)."""
    if plain is None:
        plain = _plain(content)
    if plain:
        try:
            return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer beyond 64 bits, or a string that is not valid UTF-8
            pass
    return _CANONICAL.encode(content).encode("utf-8")


def _plain(value: Any) -> bool:
    """Whether orjson writes `value` exactly as the canonical encoder does. (Loops, not all():
    this runs once per history row written or verified.)"""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) not in _PLAIN_SCALARS and not _plain(v)):
                return False
        return True
    if kind is list or kind is tuple:
        for v in value:  # noqa: SIM110 (a loop: all() over a generator is twice as slow)
            if type(v) not in _PLAIN_SCALARS and not _plain(v):
                return False
        return True
    return kind in _PLAIN_SCALARS


def _iso(at: datetime | str) -> str:
    return at if isinstance(at, str) else isoformat(at)


@lru_cache(maxsize=256)
def isoformat(at: datetime) -> str:
    """Cached: a sweep or a bulk action stamps thousands of rows with one time."""
    return at.isoformat()


@dataclass(frozen=True)
class Break:
    item_id: int
    seq: int
    reason: Text  # what happened to the row, after "history row N"

    def __str__(self) -> str:
        return _("item {item}: history row {seq} {reason}").format(
            item=self.item_id, seq=self.seq, reason=self.reason)


def verify_chain(item_id: int, rows: Iterable[Mapping[str, Any]]) -> Break | None:
    """The first broken link of one item's history (rows in seq order), or None."""
    prev, expected_seq = GENESIS, 1
    for row in rows:
        if row["seq"] != expected_seq:
            return Break(item_id, expected_seq, later("is missing (found row {found} instead)",
                                                      found=row["seq"]))
        if row["prev_hash"] != prev:
            return Break(item_id, row["seq"], later("does not follow the row before it"))
        if row_hash(prev, row) != row["hash"]:
            return Break(item_id, row["seq"], later("was changed after it was written"))
        prev, expected_seq = row["hash"], expected_seq + 1
    return None


# --- the admin log and anchors -------------------------------------------------------------------

def admin_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """An admin action's hash: its content and the previous action's hash."""
    content = {"seq": row["seq"], "actor": row["actor"], "os_user": row.get("os_user"),
               "action": row["action"], "target": row["target"], "digest": row["digest"],
               "at": _iso(row["at"])}
    return hashlib.sha256(prev_hash.encode("utf-8") + canonical(content)).hexdigest()


def verify_admin_log(rows: Iterable[Mapping[str, Any]]) -> Text | None:
    """The first broken link of the admin log, as one line, or None."""
    prev, expected = GENESIS, 1
    for row in rows:
        if row["seq"] != expected:
            return later("admin log: action {seq} is missing (found {found} instead)",
                         seq=expected, found=row["seq"])
        if row["prev_hash"] != prev or admin_hash(prev, row) != row["hash"]:
            return later("admin log: action {seq} was changed after it was written",
                         seq=row["seq"])
        prev, expected = row["hash"], expected + 1
    return None


ADMIN_HEAD = "admin"  # the admin log's place among the heads an anchor covers


def anchor_digest(heads: Iterable[tuple[int | str, int, str]], *, ordered: bool = False) -> str:
    """One sha256 over every chain head (key, last seq, last hash), in key order: items by
    id, then the admin log. Publishing it pins everything written before it. `ordered`: the
    heads already come in that order (streamed from the database), so they are not collected."""
    if not ordered:
        heads = sorted(heads, key=lambda head: (isinstance(head[0], str), head[0]))
    return anchor_digest_of_lines(head_lines([head]) for head in heads)


def head_lines(heads: Iterable[tuple[int | str, int, str]]) -> str:
    """What the anchor's digest covers of these chain heads: `key:seq:hash` and a newline
    each."""
    return "".join([f"{key}:{seq}:{h}\n" for key, seq, h in heads])


def anchor_digest_of_lines(chunks: Iterable[str]) -> str:
    """`anchor_digest` of heads already written as their lines (`head_lines`, in key order),
    any number of them to a chunk: one digest update per chunk, not per item."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk.encode())
    return digest.hexdigest()

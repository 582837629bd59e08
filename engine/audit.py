"""Tamper evidence: each history row's hash covers its content and the previous row's hash.

Pure: the store computes hashes when it appends and `verify_chain` recomputes them. Editing,
deleting or reordering any row of an item's history breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

GENESIS = "0" * 64
# The canonical form every hash covers. Made once: json.dumps with options builds a new encoder
# per call, a third of the cost of hashing a row. Never change these options: every stored
# hash was computed with them.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str)


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """sha256 over the previous hash and a canonical JSON of the row's content."""
    content = {
        "item": row["item_id"], "seq": row["seq"], "kind": row["kind"],
        "trigger": row.get("trigger"), "source": row.get("source"), "dest": row.get("dest"),
        "actor": row["actor"], "at": _iso(row["at"]), "comment": row.get("comment"),
        "data": row.get("data") or {},
    }
    blob = _CANONICAL.encode(content)
    return hashlib.sha256((prev_hash + blob).encode("utf-8")).hexdigest()


def _iso(at: datetime | str) -> str:
    return at if isinstance(at, str) else _isoformat(at)


@lru_cache(maxsize=256)
def _isoformat(at: datetime) -> str:
    """Cached: a sweep or a bulk action stamps thousands of rows with one time."""
    return at.isoformat()


@dataclass(frozen=True)
class Break:
    item_id: int
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"item {self.item_id}: history row {self.seq} {self.reason}"


def verify_chain(item_id: int, rows: Iterable[Mapping[str, Any]]) -> Break | None:
    """The first broken link of one item's history (rows in seq order), or None."""
    prev, expected_seq = GENESIS, 1
    for row in rows:
        if row["seq"] != expected_seq:
            return Break(item_id, expected_seq, f"is missing (found row {row['seq']} instead)")
        if row["prev_hash"] != prev:
            return Break(item_id, row["seq"], "does not follow the row before it")
        if row_hash(prev, row) != row["hash"]:
            return Break(item_id, row["seq"], "was changed after it was written")
        prev, expected_seq = row["hash"], expected_seq + 1
    return None

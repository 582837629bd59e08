"""`audit verify` and `audit anchor`: is everything rectify wrote still as it wrote it?

Each item's history is a hash chain (core/audit.py). Beyond the chain itself this checks the
ends and what hangs off it:
- the chain's last row is the item's head (`items.last_seq`, `last_hash`): rows removed from the
  end, or a whole history removed, no longer reach it;
- the last row's `seal` is the digest of the item's state, fields, assignee and deadline as that
  event left them: the item row edited in the database no longer matches;
- the current state entry's escalation steps match its history (a step marked applied has its
  history row and the other way round; none cancelled or missing) and the deadline it was
  planned from; attachment rows match the files the history recorded;
- an anchor (the heads of every chain and of the admin log, with one digest over them, printed
  to be published) proves that nothing written before it was changed or removed since, even the
  whole of an item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ...engine.core.i18n import Text, _, in_language, later
from ..core.audit import (
    ADMIN_HEAD,
    anchor_digest,
    anchor_digest_of_lines,
    head_lines,
    item_seal,
    verify_admin_log,
    verify_chain,
)
from ..core.errors import InvalidInput, Problem, SourceLoc
from ..core.escalation import schedule
from ..store import integrity as store
from ..store.db import read
from .service import Service

ANCHOR_TZ = "Asia/Shanghai"  # an anchor's time is shown in the bundled workflows' timezone
ENTRY_KINDS = frozenset({"create", "transition", "migrate"})  # rows that begin a state entry


@dataclass
class Verdict:
    items: int = 0
    # One line per broken item (or the admin log), put into words when shown.
    findings: list[Text] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def broken(self) -> list[str]:
        """The findings in English: what `--json` and scripts read, whatever the language."""
        with in_language("en"):
            return [str(f) for f in self.findings]

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "items": self.items, "broken": self.broken or None}


def verify(service: Service, anchor: Mapping[str, Any] | None = None,
           progress: Callable[[int], None] | None = None, *, batch: int = 2000) -> Verdict:
    """Every item and the admin log; with `anchor`, also everything the anchor pinned.
    `progress` is told how many items each batch checked. One pass over the tables."""
    verdict = Verdict()
    orphans: list[int] = []
    named: set[str] = set()  # the items (and "admin") already found broken
    with read(service.engine) as conn:
        ladder = _Ladders(service, conn)
        # Asked only when some item has an attachment (PostgreSQL: RECTIFY_FILES then).
        evidence = _Evidence(lambda: Path(service.files_dir))
        for chunk in store.chains(conn, batch):
            for item in chunk.items:
                problem = _check(ladder, item, chunk.history.pop(item["id"], []),
                                 chunk.steps.get(item["id"], []),
                                 chunk.files.get(item["id"], []), evidence)
                if problem:
                    verdict.findings.append(later("item {item}: {problem}", item=item["id"],
                                                  problem=problem))
                    named.add(str(item["id"]))
            verdict.items += len(chunk.items)
            orphans += chunk.history  # what is left: history without its item
            if progress:
                progress(len(chunk.items))
        verdict.findings += [later("item {item}: the item was deleted but its history "
                                   "remains", item=i) for i in sorted(orphans)]
        named.update(str(i) for i in orphans)
        admin = store.admin_log(conn)
        broken_admin = verify_admin_log(admin)
        if broken_admin:
            verdict.findings.append(broken_admin)
            named.add(ADMIN_HEAD)
        if anchor is not None:  # one line per item: what the anchor adds about others
            verdict.findings += [line for key, line in _against_anchor(conn, anchor, admin)
                                 if key not in named]
    return verdict


def item_count(service: Service) -> int:
    """How many items a verify will check (for a progress bar)."""
    with read(service.engine) as conn:
        return store.item_count(conn)


def _check(ladder: _Ladders, item: dict[str, Any], rows: list[dict[str, Any]],
           steps: list[dict[str, Any]], files: list[dict[str, Any]],
           evidence: _Evidence | None = None) -> Text | None:
    """The first thing wrong with one item, in words, or None."""
    if not rows:
        return later("its whole history is missing (the item's last row is number {rows})",
                     rows=item["last_seq"])
    broken = verify_chain(item["id"], rows)
    if broken:
        return later("history row {seq} {reason}", seq=broken.seq, reason=broken.reason)
    head = rows[-1]
    if head["seq"] < item["last_seq"]:
        gone = f"{head['seq'] + 1}" + (f"-{item['last_seq']}" if item["last_seq"] >
                                       head["seq"] + 1 else "")
        return later("history row {seq} was removed from the end of its history", seq=gone)
    if head["seq"] != item["last_seq"] or head["hash"] != item["last_hash"]:
        return later("its head (last_seq, last_hash) does not match its history")
    if head["seal"] is not None and head["seal"] != item_seal(item):
        return later("the item's state, fields, assignee or deadline were changed in the "
                     "database without a history row")
    return (_check_steps(ladder, item, rows, steps) or _check_files(rows, files)
            or (evidence.check(files) if evidence else None))


def _check_steps(ladder: _Ladders, item: dict[str, Any], rows: list[dict[str, Any]],
                 steps: list[dict[str, Any]]) -> Text | None:
    """The current entry's ladder: as planned from its (sealed) deadline, applied exactly
    where the history says so; no pending step left from an earlier entry."""
    for s in steps:
        if s["entry_no"] != item["entry_no"] and s["status"] == "pending":
            return later("escalation step {step} of an earlier state entry is pending",
                         step=s["step_index"] + 1)
    began = _entry_row(rows)
    if began is None or began["seal"] is None:
        return None  # an entry begun before 0.2: its ladder was not tied to anything
    entry = [s for s in steps if s["entry_no"] == item["entry_no"]]
    applied = _applied_in_entry(rows)
    plan = ladder(item["workflow_version_id"], item["state"], item["due_at"]) \
        if item["due_at"] is not None and not item["final"] else {}
    have = {s["step_index"] for s in entry}
    # A migration's new ladder leaves out the steps its item had already been through.
    expected = set(plan) if began["kind"] != "migrate" else have & set(plan)
    if have != expected:
        return later("escalation step rows of the current state entry were added or removed "
                     "(rows for steps {rows}, its ladder has {ladder})",
                     rows=_steps_text(have), ladder=_steps_text(plan))
    for s in entry:
        problem = _step_problem(s, applied, plan)
        if problem:
            return later("escalation step {step} {problem}", step=s["step_index"] + 1,
                         problem=problem)
    return None


class _Ladders:
    """The step times planned from a deadline, per verify run: items share deadlines (the end
    of one working day), and working-day arithmetic is most of a check's time."""

    def __init__(self, service: Service, conn: Any) -> None:
        self.service, self.conn = service, conn
        self.known: dict[tuple[int, str, datetime], dict[int, datetime]] = {}

    def __call__(self, version_id: int, state: str, due: datetime) -> dict[int, datetime]:
        key = (version_id, state, due)
        if key not in self.known:
            spec = self.service.compiled(self.conn, version_id).spec
            self.known[key] = {p.index: p.at for p in schedule(
                spec, state, due, self.service.calendar(), due).steps}
        return self.known[key]


def _step_problem(s: Mapping[str, Any], applied: set[int],
                  plan: Mapping[int, Any]) -> Text | None:
    if s["status"] == "applied" and s["step_index"] not in applied:
        return later("is marked applied but the history never applied it")
    if s["status"] != "applied" and s["step_index"] in applied:
        return later("was applied but its row says {status}", status=s["status"])
    if s["status"] == "cancelled":
        return later("of the current state entry was cancelled")
    if s["status"] == "pending" and s["planned_at"] != plan.get(s["step_index"]):
        return later("was moved away from the deadline it belongs to")
    return None


def _entry_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The history row that began the item's current state entry."""
    return next((r for r in reversed(rows) if r["kind"] in ENTRY_KINDS), None)


def _steps_text(indexes: Iterable[int]) -> str | Text:
    return ", ".join(str(i + 1) for i in sorted(indexes)) or later("none")


def _applied_in_entry(rows: Sequence[Mapping[str, Any]]) -> set[int]:
    applied: set[int] = set()
    for row in reversed(rows):
        if row["kind"] in ENTRY_KINDS:
            break
        if row["kind"] == "escalation":
            applied.add(int((row["data"] or {}).get("step", -1)))
    return applied


def _check_files(rows: list[dict[str, Any]], files: list[dict[str, Any]]) -> Text | None:
    """Each attachment row is a file the history recorded, and each file recorded has a row.
    Sets, not counts: a photo given again (after a rejection, under the same or another
    name) used to be recorded again by the new history row but stored once, and databases
    written then must still verify."""
    recorded = {(f["sha256"], f["name"], f["size"]) for row in rows
                for f in (row["data"] or {}).get("attachments") or ()}
    if not recorded and not files:  # most items: nothing attached, nothing to compare
        return None
    stored = {(f["sha256"], f["name"], f["size"]) for f in files}
    if not stored <= recorded or {r[0] for r in recorded} != {s[0] for s in stored}:
        return later("its attachment rows do not match the files its history recorded")
    return None


class _Evidence:
    """The stored files themselves: each attachment's file still there, with the size and
    SHA-256 its history recorded (a replaced or deleted evidence file is a broken item).
    Each distinct file is hashed once per verify, however many items attach it."""

    def __init__(self, store: Callable[[], Path]) -> None:
        self.store = store
        self.seen: dict[str, Text | None] = {}

    def check(self, files: list[dict[str, Any]]) -> Text | None:
        for f in files:
            if f["sha256"] not in self.seen:
                self.seen[f["sha256"]] = self._problem(f)
            if self.seen[f["sha256"]]:
                return later("attachment {name}: {problem}", name=f["name"],
                             problem=self.seen[f["sha256"]])
        return None

    def _problem(self, f: dict[str, Any]) -> Text | None:
        from ..store.evidence import CHUNK, path_for

        path = path_for(self.store(), f["sha256"])
        if not path.is_file():
            return later("its file {path} is missing from the evidence store", path=path)
        digest = hashlib.sha256()
        with path.open("rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != f["sha256"]:
            return later("its file {path} was replaced (its SHA-256 no longer matches)",
                         path=path)
        return None


# --- anchors -------------------------------------------------------------------------------------

def make_anchor(service: Service) -> dict[str, Any]:
    """The heads of every chain now, and one digest over them."""
    heads: dict[str, list[Any]] = {}
    with read(service.engine) as conn:
        for items in store.item_batches(conn):
            heads.update({str(i["id"]): [i["last_seq"], i["last_hash"]] for i in items})
        admin = store.admin_log(conn)
    if admin:
        heads[ADMIN_HEAD] = [admin[-1]["seq"], admin[-1]["hash"]]
    return {"digest": _digest(heads), "at": service.clock.now().isoformat(),
            "items": len(heads) - (ADMIN_HEAD in heads), "heads": heads}


def _digest(heads: Mapping[str, Sequence[Any]]) -> str:
    return anchor_digest((_key(k), int(v[0]), str(v[1])) for k, v in heads.items())


def _key(key: str) -> int | str:
    return int(key) if key.isdigit() else key


def read_anchor(path: Path) -> dict[str, Any]:
    """An anchor file as `audit anchor -o` wrote it; InvalidInput if it is not one or it was
    edited (its heads no longer give its digest)."""
    where = SourceLoc(str(path), 1, 1)
    try:
        anchor = json.loads(path.read_text(encoding="utf-8"))
        heads = anchor["heads"]
        ok = isinstance(heads, dict) and _digest(heads) == anchor["digest"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput([Problem(where, _("not an anchor file from `rectify "
                                             "audit anchor -o`: {exc}").format(
                                               exc=exc))]) from exc
    if not ok:
        raise InvalidInput([Problem(where, _("the anchor file's heads do not give its digest: "
                                           "the file itself was edited"))])
    return dict(anchor)


def anchor_time(anchor: Mapping[str, Any]) -> str:
    """When the anchor was made, as people in the office read the time (it is kept in UTC)."""
    text = str(anchor.get("at", ""))
    try:
        return datetime.fromisoformat(text).astimezone(ZoneInfo(ANCHOR_TZ)).strftime(
            "%Y-%m-%d %H:%M")
    except ValueError:
        return text[:16].replace("T", " ")


def _against_anchor(conn: Any, anchor: Mapping[str, Any],
                    admin: list[dict[str, Any]]) -> Iterator[tuple[str, Text]]:
    """(the item's key or "admin", what happened) for each head pinned and no longer there."""
    when = anchor_time(anchor)
    for key, (seq, h) in anchor["heads"].items():
        if key == ADMIN_HEAD:
            found = next((a["hash"] for a in admin if a["seq"] == seq), None)
            what = later("admin log: action {seq}", seq=seq)
        else:
            found = store.history_row(conn, int(key), int(seq))
            what = later("item {item}: history row {seq}", item=key, seq=seq)
        if found is None:
            yield key, later("{what}, pinned by the anchor of {when}, is gone", what=what,
                             when=when)
        elif found != h:
            yield key, later("{what}, pinned by the anchor of {when}, was changed since",
                             what=what, when=when)


def anchor_digest_now(service: Service) -> str:
    """The digest `audit anchor` would print now (for the foot of the weekly report), streamed:
    items come in id order, which is the digest's own order, so nothing is held or sorted."""
    with read(service.engine) as conn:
        admin = store.admin_log(conn)
        lines: Iterator[str] = store.head_line_chunks(conn)
        if admin:
            lines = chain(lines, [head_lines([(ADMIN_HEAD, admin[-1]["seq"], admin[-1]["hash"])])])
        return anchor_digest_of_lines(lines)


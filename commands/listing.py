"""`item list` output, written as the rows arrive: a text table or one JSON list.

Neither waits for the whole list: the table takes its column widths from the first rows (a
later, wider cell pushes its own line out rather than clipping it), and the JSON list is
written item by item. So the first line comes as fast as the first rows do, and memory is
bounded by a page of rows, whatever the list's length.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

import orjson

from ..engine.core.i18n import N_, _, ngettext, translate
from .support import clip, pad, printable, width

# Said in the reader's language when shown (绿/黄/红 in Chinese); --json keeps the ids.
LIGHTS = {"green": N_("green"), "yellow": N_("yellow"), "red": N_("red")}
HEADERS = (N_("id"), N_("workflow"), N_("state"), N_("unit"), N_("assignee"), N_("due"),
           N_("light"), N_("problem"))
# Widths come from this many first rows; on a terminal that is the whole default page.
PROBE = 100
MAX_CELL = 40


def default_limit(stream: TextIO) -> int:
    """A person at a terminal gets a page (the rest is counted, not printed); a pipe or a file
    gets every row, as scripts expect."""
    return 100 if stream.isatty() else 0


def write_json(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON list, as `json.dumps(rows, indent=2)` would write it, an item at a time."""
    count = 0
    for row in rows:
        out.write(("[\n" if not count else ",\n") + _indented(row))
        count += 1
    out.write("\n]\n" if count else "[]\n")
    return count


def _indented(row: dict[str, Any]) -> str:
    try:
        text = orjson.dumps(row, option=orjson.OPT_INDENT_2).decode()
    except TypeError:  # a value orjson does not write (an integer beyond 64 bits)
        text = json.dumps(row, ensure_ascii=False, indent=2)
    return "  " + text.replace("\n", "\n  ")


def write_table(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """The aligned text table (CJK text counted two columns), then "N items"."""
    headers = [translate(h) for h in HEADERS]
    lights = {key: translate(word) for key, word in LIGHTS.items()}
    cells = (_cells(r, lights) for r in rows)
    first = [c for _n, c in zip(range(PROBE), cells, strict=False)]
    widths = [max([width(h), *(width(r[i]) for r in first)]) for i, h in enumerate(headers)]
    out.write(_line(headers, widths) + "\n" + "  ".join("-" * w for w in widths) + "\n")
    count = 0
    for row in _chain(first, cells):
        out.write(_line(row, widths) + "\n")
        count += 1
    out.write(ngettext("{count} item", "{count} items", count).format(count=count) + "\n")
    return count


def light_word(light: str | None) -> str:
    """A traffic light as the reader says it; nothing for an item without a deadline."""
    return translate(LIGHTS[light]) if light else ""


def _chain(first: list[list[str]], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest


def _cells(r: dict[str, Any], lights: dict[str, str]) -> list[str]:
    due = (r["due_at"] or "")[:16].replace("T", " ")
    values = (str(r["id"]), r["workflow"], r["state_label"], r["unit_name"],
              r["assignee_name"], due, lights.get(r["light"], ""), r["description"])
    return [clip(printable(v), MAX_CELL) if v else "" for v in values]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(pad(c, w) for c, w in zip(cells, widths, strict=True)).rstrip()


def say_more(more: int) -> None:
    """On stderr, so a pipe reading stdout still gets exactly the rows."""
    if more:
        sys.stderr.write(_("… and {more} more (--limit 0 lists them all)").format(more=more)
                         + "\n")


def list_items(app: Any, names: Any, item_filter: Any, limit: int | None, rule: Any) -> None:
    """`item list`: the matching rows in id order, at most `limit` (None: the default page),
    then how many more there are when cut; `rule` sets the lights."""
    from ..engine.app.views import count_from, item_rows

    out = sys.stdout
    limit = default_limit(out) if limit is None else limit
    service = app.service()
    rows = item_rows(service, item_filter, rule=rule,
                     batch=min(limit + 1, 2000) if limit else 2000)
    named = ({**r, "unit_name": names.unit_name(r["unit"]),
              "assignee_name": names.person_name(r["assignee"])} for r in rows)
    shown = _Cut(named, limit)
    (write_json if app.as_json else write_table)(shown, out)
    if shown.next_id is not None:
        out.flush()
        say_more(count_from(service, item_filter, shown.next_id))


class _Cut:
    """The first `limit` rows (all when 0); remembers the id of the first row left out."""

    def __init__(self, rows: Iterator[dict[str, Any]], limit: int) -> None:
        self.rows, self.limit = rows, limit
        self.next_id: int | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for n, row in enumerate(self.rows):
            if self.limit and n == self.limit:
                self.next_id = row["id"]
                return
            yield row

"""`open_ledger` / `read_ledger`: a sheet -> good `LedgerRow`s and every `RowError`, with
Excel's row numbers; rows are read and checked one at a time.

Resolving unit or person names to ids is the caller's job, as is deciding whether one bad row
rejects the whole file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from ..core.errors import InvalidInput
from ..core.i18n import _, later
from ..core.spec import WorkflowSpec
from .cells import to_text
from .formats import Merged, read_sheet
from .headers import (
    Matcher,
    Plan,
    find_header,
    no_columns_message,
    plan_columns,
    warn_unused_mapping,
)
from .rows import LedgerRow, RowError

__all__ = ["Ledger", "open_ledger", "read_ledger"]

_PROGRESS_EVERY = 5000
_HEADER_SCAN = 30  # rows read before the header is looked for (headers.find_header's reach)
_UNIT_CONTEXT = "@unit_context"  # collected beside a row's values, never hashed into its key


def read_ledger(
    path: Path,
    spec: WorkflowSpec,
    mapping: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    warnings: list[RowError] | None = None,
) -> tuple[list[LedgerRow], list[RowError]]:
    """Read the first sheet of an .xlsx, .xls, .ods or .csv into good rows and every error.

    Bad rows are left out of the first list; the caller decides whether any error rejects the
    file. File-level problems (unreadable file, no header, no recognised column, a mapping
    naming an unknown field) raise InvalidInput. Non-fatal findings (ignored columns) are
    appended to `warnings` when a list is passed. `progress(done, total)` is called as rows go.
    """
    ledger = open_ledger(path, spec, mapping, progress)
    rows = list(ledger.rows)
    if warnings is not None:
        warnings.extend(ledger.warnings)
    return rows, ledger.errors


@dataclass
class Ledger:
    """An opened ledger: its good rows come one at a time from `rows`, each bad row's problems
    are appended to `errors` as it is passed, so a million-row file is never held whole."""

    rows: Iterator[LedgerRow]
    errors: list[RowError]
    warnings: list[RowError]
    targets: set[str]  # what the columns feed: field names, @unit, @due …


def open_ledger(path: Path, spec: WorkflowSpec, mapping: Mapping[str, str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> Ledger:
    """The header found and the columns planned (InvalidInput for a file without either);
    the rows are read as `Ledger.rows` is iterated."""
    path = Path(path)
    matcher = Matcher(spec, mapping)
    sheet = read_sheet(path)
    top = list(islice(sheet.rows, _HEADER_SCAN))
    header_index = find_header(top, matcher)
    if header_index is None:
        message = _("{file}: no header row found: the sheet is empty or has only a "
                    "title").format(file=path)
        raise InvalidInput([message], source=str(path))
    plan = plan_columns(top[header_index], header_index + 1, matcher)
    if not plan.targets - {"@key"}:
        message = no_columns_message(path, top[header_index], header_index + 1, spec)
        raise InvalidInput([message], source=str(path))
    warn_unused_mapping(plan, top[header_index], header_index + 1, mapping)
    below = chain(top[header_index + 1:], sheet.rows)
    rows = _filled(below, sheet.merged, header_index + 1)
    total = None if sheet.total is None else sheet.total - header_index - 1
    errors = list(plan.errors)
    return Ledger(_read_rows(rows, header_index + 1, plan, errors, progress, total), errors,
                  plan.warnings, plan.targets)


def _filled(rows: Iterable[list[Any]], merged: Merged, start: int) -> Iterator[list[Any]]:
    """Copy a vertically merged cell's value down: a 责任单位 merged over a township's rows
    belongs to each of them. Only below the header (the title is merged too), and only down
    the first column, so a merge across two columns does not put one value in both fields.
    Rows come one at a time: a merge's value is taken at its top row, then carried."""
    starting: dict[int, list[tuple[int, int]]] = {}
    for (top, left), (bottom, _right) in merged:
        if top >= start and bottom > top:
            starting.setdefault(top, []).append((left, bottom))
    carried: list[tuple[int, int, object]] = []  # (column, last row, value)
    for index, row in enumerate(rows, start):
        if carried:
            carried = [c for c in carried if c[1] >= index]
            for left, _bottom, value in carried:
                row.extend([None] * (left + 1 - len(row)))
                row[left] = value
        for left, bottom in starting.get(index, ()):
            if left < len(row):
                carried.append((left, bottom, row[left]))
        yield row


# ---------------------------------------------------------------------------------------------
# Rows


def _parse_cells(
    cells: Sequence[object], row_no: int, plan: Plan, errors: list[RowError]
) -> tuple[dict[str, object], int]:
    """Parsed values by target and how many mapped cells were filled (0: a blank row)."""
    values: dict[str, object] = {}
    failed: list[tuple[int, str, str]] = []  # (column index, target, message)
    width = len(cells)
    filled = 0
    context: list[str] = []
    for col in plan.columns:
        raw = cells[col.index] if col.index < width else None
        if raw is None or raw == "" or (isinstance(raw, str) and not (raw := raw.strip())):
            continue
        filled += 1
        if col.target in values or (failed and any(t == col.target for _, t, _ in failed)):
            # A better alias column of the same built-in already gave this row's value; other
            # unit cells are kept as context (the 乡镇 of a 村).
            if col.target == "@unit":
                context.append(to_text(raw).strip())
            continue
        try:
            values[col.target] = col.parse(raw)
        except ValueError as exc:
            failed.append((col.index, col.target, str(exc)))
    if failed:
        headers = {c.index: c.header for c in plan.columns}
        # Reported left to right, as the user reads the row.
        errors.extend(RowError(row_no, headers[i], m) for i, _target, m in sorted(failed))
    if context:
        values[_UNIT_CONTEXT] = tuple(context)
    return values, filled


def _cell_key(cells: Sequence[object], plan: Plan) -> str | None:
    if plan.key is None or plan.key.index >= len(cells):
        return None
    raw = cells[plan.key.index]
    if raw is None or raw == "":
        return None
    return to_text(raw).strip() or None


def _content_key(values: Mapping[str, object]) -> str:
    """The fallback key: first 16 hex digits of SHA-256 over the row's parsed values.

    Canonical text: `target=value` for each non-empty value, sorted by target, joined with
    newlines; targets are field names and @unit/@assignee/@subject/@due; values are ISO dates,
    whole numbers without `.0`, text with whitespace runs collapsed to one space. Hence the same
    row reads to the same key from xlsx or csv and whatever the column order.
    """
    lines = sorted(f"{target}={_canonical(value)}" for target, value in values.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def _canonical(value: object) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, bool):
        return "true" if value else "false"
    return to_text(value)


def _build_row(row_no: int, key: str, values: dict[str, object],
               unit_context: tuple[str, ...] = ()) -> LedgerRow:
    """Consumes `values`: the built-ins are popped off, what remains are the fields."""
    return LedgerRow(
        row=row_no,
        key=key,
        unit=values.pop("@unit", None),  # type: ignore[arg-type]
        assignee=values.pop("@assignee", None),  # type: ignore[arg-type]
        subject=values.pop("@subject", None),  # type: ignore[arg-type]
        due=values.pop("@due", None),  # type: ignore[arg-type]
        fields=values,
        unit_context=unit_context,
    )


def _read_rows(
    rows: Iterable[Sequence[object]],
    start: int,
    plan: Plan,
    errors: list[RowError],
    progress: Callable[[int, int], None] | None,
    total: int | None,
) -> Iterator[LedgerRow]:
    """The good rows, in order; every problem of the others goes to `errors` on the way."""
    seen: dict[str, int] = {}
    done = 0
    for done, cells in enumerate(rows, 1):
        if progress and done % _PROGRESS_EVERY == 0:
            progress(done, total or 0)
        row_no = start + done
        before = len(errors)
        values, filled = _parse_cells(cells, row_no, plan, errors)
        context: tuple[str, ...] = values.pop(_UNIT_CONTEXT, ())  # type: ignore[assignment]
        if not filled:
            continue  # blank (or only a pre-filled 序号): skipped, not an error
        key, column = _cell_key(cells, plan), plan.key.header if plan.key else None
        if key is None and len(errors) == before:
            key, column = _content_key(values), None
        if key is not None and key in seen:
            errors.append(_duplicate(row_no, column, key, seen[key]))
        elif key is not None:
            seen[key] = row_no
        if len(errors) == before and key is not None:
            yield _build_row(row_no, key, values, context)
    if progress:
        progress(done, total or done)


def _duplicate(row_no: int, column: str | None, key: str, first: int) -> RowError:
    if column is None:  # a content key: the whole row repeats another
        return RowError(row_no, None, later("the same content as row {first} (duplicate row)",
                                            first=first))
    return RowError(row_no, column, later("duplicate {column} '{key}': also row {first}",
                                          column=column, key=key, first=first))



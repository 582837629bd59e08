"""`read_ledger`: a sheet -> good `LedgerRow`s and every `RowError`, with Excel's row numbers.

Resolving unit or person names to ids is the caller's job, as is deciding whether one bad row
rejects the whole file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..core.errors import InvalidInput
from ..core.spec import WorkflowSpec
from .cells import to_text
from .formats import Grid, Merged, read_grid
from .headers import (
    Matcher,
    Plan,
    find_header,
    no_columns_message,
    plan_columns,
    warn_unused_mapping,
)
from .rows import LedgerRow, RowError

__all__ = ["read_ledger"]

_PROGRESS_EVERY = 5000
_UNIT_CONTEXT = "@unit_context"  # collected beside a row's values, never hashed into its key


def read_ledger(
    path: Path,
    spec: WorkflowSpec,
    mapping: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    warnings: list[RowError] | None = None,
) -> tuple[list[LedgerRow], list[RowError]]:
    """Read the first sheet of an .xlsx, or a .csv, into good rows and every error found.

    Bad rows are left out of the first list; the caller decides whether any error rejects the
    file. File-level problems (unreadable file, no header, no recognised column, a mapping
    naming an unknown field) raise InvalidInput. Non-fatal findings (ignored columns) are
    appended to `warnings` when a list is passed. `progress(done, total)` is called as rows go.
    """
    path = Path(path)
    matcher = Matcher(spec, mapping)
    grid, merged = read_grid(path)
    header_index = find_header(grid, matcher)
    if header_index is None:
        message = f"{path}: no header row found: the sheet is empty or has only a title"
        raise InvalidInput([message], source=str(path))
    plan = plan_columns(grid[header_index], header_index + 1, matcher)
    if not plan.targets - {"@key"}:
        message = no_columns_message(path, grid[header_index], header_index + 1, spec)
        raise InvalidInput([message], source=str(path))
    warn_unused_mapping(plan, grid[header_index], header_index + 1, mapping)
    if warnings is not None:
        warnings.extend(plan.warnings)
    _fill_merged(grid, merged, header_index)
    return _read_rows(grid, header_index + 1, plan, progress)


def _fill_merged(grid: Grid, merged: Merged, below: int) -> None:
    """Copy a vertically merged cell's value down: a 责任单位 merged over a township's rows
    belongs to each of them. Only below the header (the title is merged too), and only down
    the first column, so a merge across two columns does not put one value in both fields."""
    for (top, left), (bottom, _right) in merged:
        if top <= below or top >= len(grid) or left >= len(grid[top]):
            continue
        value = grid[top][left]
        for row in grid[top + 1 : bottom + 1]:
            if left < len(row):
                row[left] = value


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
        errors.extend(RowError(row_no, headers[i], m) for i, _, m in sorted(failed))
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
    grid: Sequence[Sequence[object]],
    start: int,
    plan: Plan,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[LedgerRow], list[RowError]]:
    rows: list[LedgerRow] = []
    errors = list(plan.errors)
    seen: dict[str, int] = {}
    total = len(grid) - start
    for done, index in enumerate(range(start, len(grid)), 1):
        if progress and done % _PROGRESS_EVERY == 0:
            progress(done, total)
        cells, row_no = grid[index], index + 1
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
            rows.append(_build_row(row_no, key, values, context))
    if progress:
        progress(total, total)
    return rows, errors


def _duplicate(row_no: int, column: str | None, key: str, first: int) -> RowError:
    if column is None:  # a content key: the whole row repeats another
        return RowError(row_no, None, f"the same content as row {first} (duplicate row)")
    return RowError(row_no, column, f"duplicate {column} {key!r}: also row {first}")



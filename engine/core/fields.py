"""Field values: turning what staff type (`--field category=信息不实`) into typed values, and back.

Values are kept JSON-friendly (dates as ISO strings, files as lists of attachment records) so the
store can keep an item's fields in one JSON column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .dates import parse_date
from .errors import Refusal, Refused, UsageError
from .i18n import _
from .spec import FieldSpec, WorkflowSpec

_TRUE = {"1", "true", "yes", "y", "是", "对", "有"}
_FALSE = {"0", "false", "no", "n", "否", "无"}


def coerce(spec: WorkflowSpec, name: str, raw: object) -> Any:
    """The stored form of a field value: UsageError for an unknown field, Refused for a bad one."""
    field = spec.fields.get(name)
    if field is None:
        raise UsageError(_("unknown field '{name}' in workflow '{workflow}'; fields: {fields}")
                         .format(name=name, workflow=spec.name, fields=", ".join(
                             f"{n} ({f.label})" for n, f in spec.fields.items())))
    if raw is None or raw == "":
        return None
    try:
        return _COERCE[field.type](field, raw)
    except (ValueError, TypeError) as exc:  # each coercer says what the value must be
        raise Refused(_("{label} ({name}) {why}").format(label=field.label, name=name, why=exc),
                      reason=Refusal.VALUE) from exc


def coerce_all(spec: WorkflowSpec, values: Mapping[str, object]) -> dict[str, Any]:
    return {name: coerce(spec, name, raw) for name, raw in values.items()}


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def display(value: Any) -> str:
    """How a value reads in a table or a notice."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return ", ".join(v.get("name", "?") if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def _number(field: FieldSpec, raw: object) -> int | float:
    if isinstance(raw, bool):
        raise ValueError(_("must be a number, not yes/no"))
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(_("must be a number, not '{text}'").format(text=text)) from None
    if not math.isfinite(value):  # "nan", "inf": no count or amount is either
        raise ValueError(_("must be a number, not '{text}'").format(text=text))
    return value


def _date(field: FieldSpec, raw: object) -> str:
    """The forms a ledger import accepts (2025-10-02, 2025/10/02, 2025年10月2日 ...)."""
    try:
        return parse_date(raw.strip() if isinstance(raw, str) else raw).isoformat()
    except ValueError as exc:
        raise ValueError(_("must be a date such as 2025-10-02 or 2025年10月2日 ({why})")
                         .format(why=exc)) from None


def _bool(field: FieldSpec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(_("must be yes or no (是/否), not '{text}'").format(text=raw))


def _choice(field: FieldSpec, raw: object) -> str:
    text = str(raw).strip()
    if text not in field.choices:
        raise ValueError(_("must be one of {choices}, not '{text}'").format(
            choices=", ".join(field.choices), text=text))
    return text


def _files(field: FieldSpec, raw: object) -> list[Any]:
    if isinstance(raw, list):
        return raw
    raise ValueError(_("takes files: attach them with --attach FILE, not as text"))


_COERCE = {
    "text": lambda f, raw: str(raw),
    "number": _number,
    "date": _date,
    "bool": _bool,
    "choice": _choice,
    "files": _files,
}

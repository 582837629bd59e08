"""How a field appears on anything posted in public (公示): `mask: name|id_card|phone`.

The masking 公示 rules use: a name keeps its first character and, from three characters on,
its last (张*三, 欧**娜; a two-character name 张*); an ID card number keeps its first 6 and last
4 characters (370102********1234); a phone number its first 3 and last 4 (138****0001). A value
too short to keep anything safely is masked all but its first character. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .spec import WorkflowSpec

__all__ = ["MASKS", "mask", "posted"]


def _name(text: str) -> str:
    if len(text) <= 2:
        return text[:1] + "*" * (len(text) - 1)
    return text[0] + "*" * (len(text) - 2) + text[-1]


def _keep(head: int, tail: int) -> Callable[[str], str]:
    def masked(text: str) -> str:
        if len(text) <= head + tail:
            return text[:1] + "*" * (len(text) - 1)
        return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]
    return masked


MASKS: dict[str, Callable[[str], str]] = {
    "name": _name, "id_card": _keep(6, 4), "phone": _keep(3, 4),
}


def mask(kind: str, value: object) -> str:
    """`value` as it may be posted in public, masked the way `kind` says."""
    text = "".join(str(value).split())  # spaces inside an ID or phone number hide nothing
    return MASKS[kind](text) if text else ""


def posted(spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """An item's fields as they may be posted in public (公示表, 公开版 ledger and report):
    a masked field masked, a private one without a mask left out, and a masked value written
    out in another text field (an application naming the household head) masked there too."""
    secrets = {str(v).strip(): mask(f.mask, v) for n, f in spec.fields.items()
               if f.mask and (v := values.get(n)) not in (None, "") and str(v).strip()}
    out: dict[str, Any] = {}
    for name, value in values.items():
        f = spec.fields.get(name)
        if f is None or (f.private and not f.mask):
            continue
        if f.mask and value not in (None, ""):
            value = mask(f.mask, value)
        elif f.type == "text" and isinstance(value, str):
            value = _scrub(value, secrets)
        out[name] = value
    return out


def _scrub(text: str, secrets: Mapping[str, str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # 欧阳娜娜 before 欧阳
        text = text.replace(secret, secrets[secret])
    return text

"""How a field appears on anything posted in public (公示): `mask: name|id_card|phone`.

The masking 公示 rules use: a name keeps its first character and, from three characters on,
its last (张*三, 欧**娜; a two-character name 张*); an ID card number keeps its first 6 and last
4 characters (370102********1234); a phone number its first 3 and last 4 (138****0001). A value
too short to keep anything safely is masked all but its first character. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MASKS", "mask"]


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

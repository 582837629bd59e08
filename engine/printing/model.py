"""A printed document as plain data: what each renderer lays out the same way."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A bordered table of label/value rows, under an optional heading."""

    rows: tuple[tuple[str, str], ...]
    heading: str | None = None


@dataclass(frozen=True)
class Document:
    """`title` large and centred; `number` (文号) under it on the right; `before` lines above the
    sections, `after` lines below them; `signature` lines at the foot (签收, 发文单位)."""

    title: str
    sections: tuple[Section, ...]
    number: str | None = None
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    signature: tuple[str, ...] = field(default_factory=tuple)

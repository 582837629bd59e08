"""Cutting a long message into parts that each fit a robot's byte limit.

Robots count UTF-8 bytes (a Chinese character is three), not characters, and refuse a message
past the limit; a daily digest of a busy town easily goes past it. Parts are cut at line ends
so no table row or list entry is torn, and each part is marked `(i/n)` on its first line.
"""

from __future__ import annotations

from collections.abc import Iterator

_MAX_CHAR = 4  # the longest UTF-8 encoding of one character


def split_message(text: str, limit_bytes: int) -> list[str]:
    """`text` alone if it fits, otherwise parts of at most `limit_bytes` bytes, each marked."""
    if _size(text) <= limit_bytes:
        return [text]
    total = 9  # guess the part count's digits; redo in the rare case it needs more
    while True:
        budget = limit_bytes - _size(_marker(total, total))
        if budget < _MAX_CHAR:
            raise ValueError(f"a limit of {limit_bytes} bytes leaves no room for text")
        chunks = _pack(text.split("\n"), budget)
        if len(str(len(chunks))) <= len(str(total)):
            return [_marker(i, len(chunks)) + c for i, c in enumerate(chunks, start=1)]
        total = len(chunks)


def _marker(index: int, total: int) -> str:
    return f"({index}/{total})\n"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _pack(lines: list[str], budget: int) -> list[str]:
    """Greedily fill chunks of whole lines, each chunk at most `budget` bytes."""
    chunks: list[str] = []
    current: list[str] = []
    size = -1  # the bytes of "\n".join(current): one newline fewer than lines
    for line in lines:
        for piece in _pieces(line, budget):
            cost = _size(piece) + 1
            if current and size + cost > budget:
                chunks.append("\n".join(current))
                current, size = [], -1
            current.append(piece)
            size += cost
    chunks.append("\n".join(current))
    return chunks


def _pieces(line: str, budget: int) -> Iterator[str]:
    """The line itself, or, if a single line is over the budget, slices cut between characters."""
    if _size(line) <= budget:
        yield line
        return
    start, size = 0, 0
    for index, char in enumerate(line):
        width = _size(char)
        if size + width > budget:
            yield line[start:index]
            start, size = index, 0
        size += width
    yield line[start:]

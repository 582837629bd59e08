"""三随机 / 回头看: a reproducible random draw of items. Pure.

The algorithm, so anyone can re-derive a draw: every candidate item id is given the key
HMAC-SHA256(key = the seed as UTF-8, message = the id in decimal), in hex; candidates are
ordered by that key (ties, which do not happen in practice, by id) and the first `size` are
drawn. The same seed and the same candidates always give the same items, in the same order;
an item's place does not depend on which other items are candidates, so a draw over a larger
set contains the draw over a smaller one wherever both agree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def sample_key(seed: str, item_id: int) -> str:
    return hmac.new(seed.encode("utf-8"), str(item_id).encode("ascii"),
                    hashlib.sha256).hexdigest()


def draw(candidates: Iterable[int], seed: str, size: int) -> list[int]:
    """The `size` candidates first in key order (all of them if there are fewer)."""
    keyed = sorted((sample_key(seed, i), i) for i in set(candidates))
    return [i for _, i in keyed[:max(size, 0)]]

"""`item sample`: draw items at random, reproducibly (core/sampling.py says how), record the
draw on each drawn item's history (the seed, the filters, the number of candidates, its rank),
and optionally fire a trigger on each through the normal checks of `item advance`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...engine.core.i18n import _
from ..core.errors import RectifyError, Refusal, Refused, UsageError
from ..core.sampling import draw, sample_key
from ..store import items as store
from ..store import reads, repo
from ..store.db import read, write
from ..store.reads import ItemFilter
from .service import Service


def sample(service: Service, actor_id: str | None, filters: ItemFilter, size: int, seed: str,
           fire: str | None = None, *, via: str = "cli") -> dict[str, Any]:
    if size < 1:
        raise UsageError(_("--size must be at least 1"))
    if not seed.strip():
        raise UsageError(_("--seed must not be empty: it is what makes the draw reproducible"))
    now = service.clock.now()
    with write(service.engine) as conn:
        candidates = reads.matching_ids(conn, filters, now)
        drawn = draw(candidates, seed, size)
        records = {r.id: r for r in (store.get_item(conn, i) for i in drawn)}
        for rank, item_id in enumerate(drawn, 1):
            item = records[item_id]
            actor = service.actor(conn, actor_id, item.unit_path)
            if not actor.roles:
                unit = repo.unit(conn, item.unit_id).name
                raise Refused(_("{name} holds no role at {unit} or above and so "
                                "may not draw its items (item {id})").format(
                                  name=actor.name, unit=unit, id=item.id), reason=Refusal.ROLE)
            entry = service.entry("sample", actor.id, now, via=via, trigger="sample", data={
                "seed": seed, "size": size, "filters": _filters(filters),
                "candidates": len(candidates), "rank": rank,
                "key": sample_key(seed, item_id)})
            store.apply_write(conn, store.ItemWrite(item=item, values={}, history=entry))
    fired = [_fire(service, i, actor_id, fire, seed, via) for i in drawn] if fire else []
    return {"seed": seed, "size": size, "candidates": len(candidates), "items": drawn,
            "fired": fired}


def _fire(service: Service, item_id: int, actor_id: str | None, trigger: str, seed: str,
          via: str) -> dict[str, Any]:
    try:
        outcome = service.advance(item_id, actor_id, trigger, comment=f"随机抽查（种子 {seed}）",
                                  via=via)
    except RectifyError as exc:
        return {"item": item_id, "fired": False, "error": str(exc)}
    return {"item": item_id, "fired": True, "dest": outcome.dest}


def _filters(filters: ItemFilter) -> dict[str, Any]:
    return {k: v for k, v in asdict(filters).items() if v not in (None, False)}


def candidates_of(service: Service, filters: ItemFilter) -> list[int]:
    """The candidate ids a draw with these filters sees now (for re-deriving a draw)."""
    with read(service.engine) as conn:
        return reads.matching_ids(conn, filters, service.clock.now())

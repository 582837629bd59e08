"""Who may see which items: a person sees the items of the units where they hold a role, and
of every unit below those. Anything else answers "not found", exactly as a missing item does,
so item ids cannot be probed. The API and the pages both ask here; the rules of what a person
may *do* stay in the workflow (the service refuses).
"""

from __future__ import annotations

from ..core.errors import NotFound
from ..store import identity as rows
from ..store.db import read
from .service import Service


def roots(service: Service, person_id: str) -> tuple[str, ...]:
    """The unit paths the person sees from: those of their grants, without nested ones
    (a grant below another adds nothing)."""
    with read(service.engine) as conn:
        paths = sorted(rows.grant_paths(conn, person_id))
    kept: list[str] = []
    for path in paths:  # sorted: an ancestor comes before its descendants
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(kept)


def sees(paths: tuple[str, ...], unit_path: str) -> bool:
    return any(unit_path.startswith(p) for p in paths)


def check_item(service: Service, person_id: str, item_id: int) -> None:
    """NotFound unless the item exists and the person may see it."""
    with read(service.engine) as conn:
        unit_path = rows.item_unit_path(conn, item_id)
        allowed = unit_path is not None and sees(
            tuple(rows.grant_paths(conn, person_id)), unit_path)
    if not allowed:
        raise NotFound("item", item_id)


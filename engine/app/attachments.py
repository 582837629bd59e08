"""Evidence files given with an advance (`--attach`): which files field they go into, and
which of the transition's changed fields carries them (so their attachment rows name it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...engine.core.i18n import _
from ..core.errors import Refusal, Refused
from ..core.machine import Outcome
from ..core.spec import WorkflowSpec
from ..store import evidence as files
from ..store import items as store


def _files_field(spec: WorkflowSpec, state: str, trigger: str) -> str:
    """Where `--attach` goes: a files field the transition requires, else the first one."""
    for t in spec.transitions_from(state):
        if t.trigger == trigger:
            for name in t.requires:
                if spec.fields[name].type == "files":
                    return name
    for name, f in spec.fields.items():
        if f.type == "files":
            return name
    raise Refused(_("workflow '{name}' has no files field to attach to").format(
                      name=spec.name), reason=Refusal.FIELD)


def with_attachments(spec: WorkflowSpec, item: store.ItemRecord, trigger: str,
                     given: dict[str, Any],
                     stored: Sequence[files.StoredFile]) -> dict[str, Any]:
    """`given` with the stored files added to the files field they go into; a file the field
    already holds (the same content, whatever its name) is listed once."""
    name = _files_field(spec, item.state, trigger)
    current = list(given.get(name) or item.fields.get(name) or [])
    held = {v.get("sha256") for v in current if isinstance(v, dict)}
    added = [f.record() for f in unique(stored) if f.sha256 not in held]
    return {**given, name: current + added} if added else given


def unique(stored: Sequence[files.StoredFile]) -> list[files.StoredFile]:
    """The files, each content once (the first name given wins)."""
    first: dict[str, files.StoredFile] = {}
    for f in stored:
        first.setdefault(f.sha256, f)
    return list(first.values())


def attached_fields(outcome: Outcome,
                    stored: Sequence[files.StoredFile]) -> list[tuple[str, files.StoredFile]]:
    """(field, file) for each stored file: the changed field that carries them."""
    if not stored:
        return []
    digests = {f.sha256 for f in stored}
    for name, (old, new) in outcome.changes.items():
        if isinstance(new, list) and any(isinstance(v, dict) and v.get("sha256") in digests
                                         for v in new):
            held = {v.get("sha256") for v in (old or []) if isinstance(v, dict)}
            return [(name, f) for f in unique(stored) if f.sha256 not in held]
    return []


def placeholders(paths: Sequence[Path]) -> list[files.StoredFile]:
    """Stand-ins for files not yet copied, for deciding an advance before copying them: each
    fills the files field as the stored file will (a distinct digest each, so none is taken
    for a file the field already holds)."""
    return [files.StoredFile(f"pending-{n}", files.safe_name(p.name), 0)
            for n, p in enumerate(paths)]

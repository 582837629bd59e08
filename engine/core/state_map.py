"""An admin's `--map OLD=NEW` for `workflow migrate`: read from the options, each side turned
from a state's label into its id where it names one state, and checked against the versions
(OLD a state of some other version, NEW a state of the target that is not final)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import Refusal, Refused, UsageError
from .i18n import _
from .spec import WorkflowSpec
from .yamlnodes import did_you_mean  # the loader's: the same words for a near name

__all__ = ["check_mapping", "mapping_by_id", "parse_mapping"]


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """`--map OLD=NEW` options to a dict; UsageError for a malformed or contradictory one."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = (p.strip() for p in pair.partition("="))
        if not sep or not old or not new:
            raise UsageError(_("--map {pair!r}: expected OLD_STATE=NEW_STATE").format(
                                 pair=pair))
        if out.get(old, new) != new:
            raise UsageError(_("--map {old}: given twice, to '{first}' and to '{second}'").format(
                                 old=old, first=out[old], second=new))
        out[old] = new
    return out


def mapping_by_id(mapping: Mapping[str, str], sources: Iterable[WorkflowSpec],
                  target: WorkflowSpec) -> dict[str, str]:
    """`--map 已批改待完善=整改中` as well as `--map marked=rectifying`: each side given by a
    state's label is turned into its id (OLD among the other versions' states, NEW among the
    target's), where the label names exactly one state; anything else is left as written for
    `check_mapping` to refuse with the nearest names."""
    old_ids = _ids_by_label(sources)
    new_ids = _ids_by_label([target])
    return {old_ids.get(old, old): new_ids.get(new, new) for old, new in mapping.items()}


def _ids_by_label(specs: Iterable[WorkflowSpec]) -> dict[str, str]:
    """label -> state id, for labels that are not themselves an id and name one state only."""
    specs = list(specs)
    ids = {state for spec in specs for state in spec.states}
    found: dict[str, set[str]] = {}
    for spec in specs:
        for state, st in spec.states.items():
            found.setdefault(st.label.strip(), set()).add(state)
    return {label: next(iter(states)) for label, states in found.items()
            if len(states) == 1 and label not in ids}


def check_mapping(mapping: Mapping[str, str], sources: Iterable[WorkflowSpec],
                  target: WorkflowSpec, target_version: int) -> None:
    """Both sides of every --map name a state: OLD in some other version, NEW in the target,
    where it must not be final (migrating moves items in flight; it never closes them)."""
    known = {s for spec in sources for s in spec.states}
    for old, new in mapping.items():
        if old not in known:
            raise UsageError(_("--map {old}={new}: no other version of '{name}' has a state "
                               "'{old}'{did_you_mean}").format(
                                 old=old, new=new, name=target.name,
                                 did_you_mean=did_you_mean(old, known)))
        if new not in target.states:
            raise UsageError(_("--map {old}={new}: v{version} of '{name}' has no state "
                               "'{new}'{did_you_mean}; its states: {states}").format(
                                 old=old, new=new, version=target_version, name=target.name,
                                 did_you_mean=did_you_mean(new, target.states),
                                 states=", ".join(target.states)))
        if target.states[new].final:
            raise Refused(_("--map {old}={new}: {label} ({new}) is a final state in "
                            "v{target_version}; a migration moves items in flight and does "
                            "not close them").format(
                              old=old, new=new, label=target.states[new].label,
                              target_version=target_version), reason=Refusal.STATE)


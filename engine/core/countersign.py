"""会签 (countersign): a transition that takes effect only when enough distinct people have
fired it in the current state entry. Pure: who has signed comes in, whether the rule is met
and who is still awaited go out.

A signature is (person, the transition's roles they held when signing). The rules:
- `all`: every listed role has been signed for by someone holding it;
- `majority`: more than half of the listed roles have;
- a number N: N distinct people have signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .i18n import _, ngettext
from .spec import TransitionSpec, WorkflowSpec


class Signature(NamedTuple):
    actor: str
    roles: tuple[str, ...]  # the transition's roles the signer held


def covered(signatures: Iterable[Signature]) -> set[str]:
    return {role for s in signatures for role in s.roles}


def met(t: TransitionSpec, signatures: Sequence[Signature]) -> bool:
    """Whether these signatures (including the newest) make the transition take effect."""
    rule = t.countersign
    if rule is None:
        return True
    if rule == "all":
        return set(t.roles) <= covered(signatures)
    if rule == "majority":
        return len(covered(signatures) & set(t.roles)) * 2 > len(t.roles)
    return len({s.actor for s in signatures}) >= int(rule)


def awaited(spec: WorkflowSpec, t: TransitionSpec, signatures: Sequence[Signature]) -> str:
    """Who the transition still waits for, in the user's words."""
    rule = t.countersign
    if rule is None or met(t, signatures):
        return ""
    missing = [r for r in t.roles if r not in covered(signatures)]
    names = "、".join(f"{spec.role_label(r)} ({r})" for r in missing)
    if rule == "all":
        return names
    if rule == "majority":
        need = len(t.roles) // 2 + 1 - len(covered(signatures) & set(t.roles))
        return _("{count} more of {roles}").format(count=need, roles=names)
    count = int(rule) - len({s.actor for s in signatures})
    return ngettext("{count} more signer", "{count} more signers", count).format(count=count)

"""Refusals in the clerk's words: the engine's one-line reasons, said in Chinese on the pages.

The engine words its refusals for the CLI and the API (English sentences around the
workflow's own Chinese labels). A village cadre reads the pages, so each kind the engine
words (contract §8 will bring `--lang zh` to every message) is said again here, from the same
line and the same labels; a line that matches no known shape is shown as the engine said it,
never lost. The API keeps the engine's words unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..engine.core.errors import Refusal

_VERB = r"'(?P<trigger>[^']+)'(?: \((?P<label>[^)]*)\))?"
_FIELD = re.compile(r"\s*\([A-Za-z_][A-Za-z0-9_]*\)")


class _Said:
    """Labels of triggers and names of people, to say `submit` and `zhang` as 提交验收, 张三."""

    def __init__(self, triggers: Mapping[str, str], people: Mapping[str, str]) -> None:
        self.triggers, self.people = triggers, people

    def verb(self, m: re.Match[str], trigger: str = "trigger", label: str = "label") -> str:
        return m.group(label) or self.triggers.get(m.group(trigger), m.group(trigger))

    def person(self, who: str) -> str:
        return self.people.get(who, who)


def _labels(text: str) -> str:
    """`整改措施 (measures), 佐证材料 (evidence)` -> `整改措施、佐证材料`."""
    return "、".join(_FIELD.sub("", part).strip() for part in text.split(", "))


_SHAPES: list[tuple[str, re.Pattern[str], Callable[[re.Match[str], _Said], str]]] = [
    (Refusal.MISSING_FIELD, re.compile(rf"^{_VERB} requires (?P<fields>.+)$"),
     lambda m, w: f"{w.verb(m)}还需要填写：{_labels(m.group('fields'))}"),
    (Refusal.COMMENT, re.compile(rf"^{_VERB} requires a comment"),
     lambda m, w: f"{w.verb(m)}需要填写意见"),
    (Refusal.ROLE, re.compile(rf"^(?P<who>.+?) may not {_VERB}: it needs the role "
                              r"(?P<roles>.+) at (?P<where>.+) or a unit above it$"),
     lambda m, w: f"您不能{w.verb(m)}：需要在{m.group('where')}或上级单位担任"
               f"{_labels(m.group('roles').replace(' or ', ', ')).replace('、', '或')}"),
    (Refusal.ASSIGNEE, re.compile(rf"^only the (?P<kind>assignee|creator) \((?P<who>[^)]*)\) "
                                  rf"may {_VERB}$"),
     lambda m, w: f"只有{'责任人' if m.group('kind') == 'assignee' else '登记人'}"
               f"（{w.person(m.group('who'))}）可以{w.verb(m)}"),
    (Refusal.SEPARATION, re.compile(rf"^(?P<who>\S+) fired {_VERB} on this item and so may not "
                                    r"'(?P<t2>[^']+)'(?: \((?P<l2>[^)]*)\))?"),
     lambda m, w: f"您已办理过“{w.verb(m)}”，按职责分离不能再{w.verb(m, 't2', 'l2')}"),
    (Refusal.SEPARATION, re.compile(rf"^(?P<who>.+?) has already signed {_VERB} \(会签\) "
                                    r"in this state"),
     lambda m, w: f"您已在“{w.verb(m)}”上签过字，每人只签一次"),
    (Refusal.FIELD, re.compile(rf"^{_VERB} may not set (?P<fields>.+); it sets only "
                               r"(?P<allowed>.+)$"),
     lambda m, w: f"{w.verb(m)}不能填写{_labels(m.group('fields'))}，只能填写"
               f"{_labels(m.group('allowed'))}"),
    (Refusal.FIELD, re.compile(r"^(?P<who>.+?) may not set (?P<field>.+): only (?P<roles>.+) "
                               r"may$"),
     lambda m, w: f"您不能填写{_labels(m.group('field'))}：只有"
               f"{_labels(m.group('roles').replace(' or ', ', ')).replace('、', '或')}可以填写"),
    (Refusal.STATE, re.compile(rf"^{_VERB} is not possible in state (?P<state>\S+)"),
     lambda m, w: f"事项现在是“{m.group('state')}”，不能{w.verb(m)}（可能已有人办理），请刷新页面"),
    (Refusal.GUARD, re.compile(rf"^{_VERB}: the condition '(?P<when>[^']*)' is not met"),
     lambda m, w: f"不满足{w.verb(m)}的条件：{m.group('when')}"),
]

_LOGIN = [
    (re.compile(r"^wrong person or password"), lambda m: "用户名或密码不正确"),
    (re.compile(r"^too many failed logins; try again in (?P<s>\d+) seconds"),
     lambda m: f"登录失败次数过多，请 {m.group('s')} 秒后再试"),
]


def refusal_words(line: str, reason: str | None = None, *,
                  triggers: Mapping[str, str] | None = None,
                  people: Mapping[str, str] | None = None) -> str:
    """The refusal `line` in Chinese when its shape is known, else `line` itself. `triggers`
    (trigger -> label) and `people` (id -> name) name what the engine's line gives by id."""
    said = _Said(triggers or {}, people or {})
    for kind, shape, say in _SHAPES:
        if reason in (None, kind):
            found = shape.match(line)
            if found:
                return say(found, said)
    return line


def login_words(line: str) -> str:
    for shape, say in _LOGIN:
        found = shape.match(line)
        if found:
            return say(found)
    return line

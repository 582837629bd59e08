"""A workflow's state graph as Mermaid or Graphviz DOT text, for documents and review.

What people read on the boxes and arrows is Chinese: durations as 5个工作日, 3天, 2小时; a
transition's `when:` shortened on its arrow (the whole expression is in `workflow show`), so a
workflow with long guards still draws a graph one can print.
"""

from __future__ import annotations

from .spec import Duration, WorkflowSpec

# The longest `when:` drawn on an arrow, in characters; longer ones end in "…".
WHEN_ON_EDGE = 24
_UNITS_ZH = {"workdays": "个工作日", "days": "天", "hours": "小时"}


def duration_zh(duration: Duration) -> str:
    """`10 workdays` as 10个工作日, `3 days` as 3天, `48 hours` as 48小时; 0 as 到期时."""
    if duration.amount == 0:
        return "到期时"
    return f"{duration.amount}{_UNITS_ZH[duration.unit]}"


def _short(text: str, limit: int = WHEN_ON_EDGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _edge_label(trigger: str, label: str | None, when: str | None) -> str:
    text = label or trigger
    return f"{text} [{_short(when)}]" if when else text


def _state_lines(spec: WorkflowSpec, name: str) -> list[str]:
    """The lines of a state's box: its label, then its deadline (期限 5个工作日)."""
    state = spec.states[name]
    return [state.label] + ([f"期限 {duration_zh(state.deadline)}"] if state.deadline else [])


def to_mermaid(spec: WorkflowSpec) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for name in spec.states:
        text = "<br/>".join(_state_lines(spec, name)).replace('"', "'")
        lines.append(f'    state "{text}" as {name}')
    for t in spec.transitions:
        label = _edge_label(t.trigger, t.label, t.when).replace(":", "：")
        lines += [f"    {source} --> {t.dest}: {label}" for source in t.sources]
    lines += [f"    {name} --> [*]" for name, s in spec.states.items() if s.final]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A DOT string: backslashes and quotes escaped, then each line break as DOT's `\\n`
    (written after the escaping, so Graphviz draws a break, not a literal backslash-n)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n") + '"'


def to_dot(spec: WorkflowSpec) -> str:
    lines = [f"digraph {_quote(spec.name)} {{", "    rankdir=LR;",
             '    node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];',
             '    edge [fontname="Noto Sans CJK SC", fontsize=10];']
    for name, state in spec.states.items():
        shape = ", peripheries=2" if state.final else ""
        lines.append(f"    {_quote(name)} [label={_quote(chr(10).join(_state_lines(spec, name)))}"
                     f"{shape}];")
    for t in spec.transitions:
        label = _quote(_edge_label(t.trigger, t.label, t.when))
        lines += [f"    {_quote(s)} -> {_quote(t.dest)} [label={label}];" for s in t.sources]
    lines.append("}")
    return "\n".join(lines) + "\n"

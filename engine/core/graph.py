"""A workflow's state graph as Mermaid or Graphviz DOT text, for documents and review."""

from __future__ import annotations

from .spec import WorkflowSpec


def _edge_label(spec: WorkflowSpec, trigger: str, label: str | None, when: str | None) -> str:
    text = label or trigger
    return f"{text} [{when}]" if when else text


def to_mermaid(spec: WorkflowSpec) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for name, state in spec.states.items():
        deadline = f"<br/>{state.deadline}" if state.deadline else ""
        lines.append(f'    state "{state.label}{deadline}" as {name}')
    for t in spec.transitions:
        label = _edge_label(spec, t.trigger, t.label, t.when).replace(":", "：")
        lines += [f"    {source} --> {t.dest}: {label}" for source in t.sources]
    lines += [f"    {name} --> [*]" for name, s in spec.states.items() if s.final]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(spec: WorkflowSpec) -> str:
    lines = [f"digraph {_quote(spec.name)} {{", "    rankdir=LR;",
             '    node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];']
    for name, state in spec.states.items():
        label = state.label + (f"\\n{state.deadline}" if state.deadline else "")
        shape = ", peripheries=2" if state.final else ""
        lines.append(f"    {_quote(name)} [label={_quote(label)}{shape}];")
    for t in spec.transitions:
        label = _quote(_edge_label(spec, t.trigger, t.label, t.when))
        lines += [f"    {_quote(s)} -> {_quote(t.dest)} [label={label}];" for s in t.sources]
    lines.append("}")
    return "\n".join(lines) + "\n"

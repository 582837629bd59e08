"""Workflow commands: validate files, list, show a readable table, draw the graph; migrate
running items to another version and diff two versions."""

from __future__ import annotations

import shutil
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import click

from ..engine.core.errors import InvalidInput, UsageError
from ..engine.core.spec import TransitionSpec, WorkflowSpec
from .support import AppContext, JsonStream, echo_json, exit_code, progress, table


def validate_files(app: AppContext, paths: list[Path]) -> int:
    """Exit status: 0 if all are valid, 6 if any is not. Every problem goes to stderr."""
    from ..engine.core.loader import load_workflow_file
    from ..notifications.notices import Notices

    notices = Notices.default()
    results, failed = [], False
    for path in paths:
        try:
            spec = load_workflow_file(path, templates=partial(notices.template_names, path.parent))
            notices.check_templates(spec, path.parent)
        except InvalidInput as exc:
            failed = True
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            results.append({"file": str(path), "valid": False,
                            "errors": [str(p) for p in exc.problems]})
            continue
        for warning in spec.warnings:
            click.echo(warning, err=True)
        results.append({"file": str(path), "valid": True, "workflow": spec.name,
                        "warnings": list(spec.warnings)})
        if not app.as_json:
            click.echo(f"{path}: ok ({spec.name}: {len(spec.states)} states, "
                       f"{len(spec.transitions)} transitions)")
    if app.as_json:
        echo_json(results)
    return exit_code(InvalidInput([])) if failed else 0


def resolve_spec(app: AppContext, name: str) -> WorkflowSpec:
    """A workflow by file path, by name in the database, or a bundled one."""
    from ..engine.core.loader import load_workflow_file
    from ..workflows import bundled

    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_workflow_file(path)
    if Path(app.db.removeprefix("sqlite:///")).exists() or not app.db.startswith("sqlite"):
        from ..engine.store.db import read

        service = app.service()
        with read(service.engine) as conn:
            from ..engine.store.repo import latest_workflow

            if latest_workflow(conn, name, missing_ok=True):
                return service.latest(conn, name).spec
    found = bundled(name)
    if found is None:
        raise UsageError(f"no workflow '{name}': give a file or a loaded workflow's name")
    return load_workflow_file(found)


def list_workflows(app: AppContext) -> None:
    from ..engine.store.db import read
    from ..engine.store.repo import workflow_names

    with read(app.service().engine) as conn:
        rows = workflow_names(conn)
    if app.as_json:
        echo_json([{"workflow": r.name, "version": r.version, "file": r.file,
                    "loaded_at": r.loaded_at} for r in rows])
        return
    click.echo(table(["workflow", "version", "loaded", "file"],
                     [[r.name, r.version, r.loaded_at.strftime("%Y-%m-%d %H:%M"), r.file]
                      for r in rows], max_width=60))


def show_workflow(app: AppContext, name: str) -> None:
    spec = resolve_spec(app, name)
    if app.as_json:
        echo_json(_as_dict(spec))
        return
    click.echo(f"{spec.name}: {spec.title}  (timezone {spec.timezone}, calendar {spec.calendar})")
    click.echo("\nstates:")
    click.echo(table(["state", "label", "deadline", "final"],
                     [[s.name, s.label, s.deadline or "", "yes" if s.final else ""]
                      for s in spec.states.values()]))
    click.echo("\ntransitions:")
    click.echo(table(["trigger", "from", "to", "roles", "rules"],
                     [[t.trigger, ", ".join(t.sources), t.dest,
                       ", ".join(spec.role_label(r) for r in t.roles), _rules(spec, t)]
                      for t in spec.transitions], max_width=60))
    ladders = [(s, step) for s in spec.states.values() for step in s.escalate]
    if ladders:
        click.echo("\nescalation:")
        click.echo(table(["state", "at", "level", "notify", "fire"],
                         [[s.label, str(step.at) if step.at.amount else "deadline",
                           step.level or "", ", ".join(step.notify), step.fire or ""]
                          for s, step in ladders]))


def _rules(spec: WorkflowSpec, t: TransitionSpec) -> str:
    rules = []
    if t.actor:
        rules.append(f"only the {t.actor}")
    if t.not_actor_of:
        rules.append(f"not whoever fired {t.not_actor_of}")
    if t.requires:
        rules.append("needs " + ", ".join(spec.field_label(f) for f in t.requires))
    if t.comment_required:
        rules.append("comment")
    if t.when:
        rules.append(f"when {t.when}")
    return "; ".join(rules)


def _as_dict(spec: WorkflowSpec) -> dict[str, Any]:
    return {
        "workflow": spec.name, "title": spec.title, "timezone": spec.timezone,
        "initial": spec.initial,
        "states": {n: {"label": s.label, "final": s.final,
                       "deadline": str(s.deadline) if s.deadline else None,
                       "escalate": [{"at": str(e.at), "level": e.level, "notify": list(e.notify),
                                     "fire": e.fire, "template": e.template} for e in s.escalate]}
                   for n, s in spec.states.items()},
        "transitions": [{"trigger": t.trigger, "source": list(t.sources), "dest": t.dest,
                         "roles": list(t.roles), "when": t.when} for t in spec.transitions],
    }


def graph_workflow(app: AppContext, name: str, fmt: str, output: Path | None) -> None:
    from ..engine.core.graph import to_dot, to_mermaid

    spec = resolve_spec(app, name)
    if fmt in ("mermaid", "dot"):
        text = to_mermaid(spec) if fmt == "mermaid" else to_dot(spec)
        if output:
            output.write_text(text, "utf-8")
        else:
            click.echo(text)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError(f"--format {fmt} needs Graphviz's `dot` program, which is not "
                         "installed (Debian: apt-get install graphviz); --format dot or "
                         "mermaid work without it")
    if output is None:
        raise UsageError(f"--format {fmt} writes a binary file: give -o FILE")
    subprocess.run([dot, f"-T{fmt}", "-o", str(output)], input=to_dot(spec).encode("utf-8"),
                   check=True)
    click.echo(f"wrote {output}")


# --- migrate and diff -----------------------------------------------------------------------------

PROGRESS_FROM = 1000  # items: from this many, a progress bar on stderr (when it is a terminal)
MARKS = {"added": "+", "removed": "-", "changed": "~"}


def version_number(text: str, what: str) -> int:
    """`2` or `v2`."""
    value = text.strip().lower().removeprefix("v")
    if not value.isdigit():
        raise UsageError(f"{what} {text!r}: expected a version number such as 2 or v2")
    return int(value)


def migrate_workflow(app: AppContext, name: str, to_text: str, mappings: tuple[str, ...],
                     comment: str | None, dry_run: bool) -> int:
    """Exit status: 0 all moved; 3 some items were refused (a state with nowhere to go);
    5 some changed underneath (run again). A plan that leaves a state unmapped raises."""
    from ..engine.app.migration import actor_id, migrate, prepare
    from ..engine.core.versions import parse_mapping

    service = app.service()
    plan = prepare(service, name, version_number(to_text, "--to"), parse_mapping(mappings))
    actor = actor_id(service, app.actor)
    out = JsonStream(app.as_json, "items")
    out.head({"workflow": name, "to_version": plan.to_version, "dry_run": dry_run,
              "plan": plan.as_json()})
    if not app.as_json:
        click.echo(_plan_text(plan, dry_run))
    refused = plan.refusal()
    if refused is not None:
        out.tail(None)
        raise refused

    def on_item(result: dict[str, Any]) -> None:
        out.item(result)
        if "error" in result:
            click.echo(f"item {result['id']}: not moved: {result['error']}", err=True)

    with progress(plan.items, "migrating", from_items=PROGRESS_FROM) as bar:
        report = migrate(service, plan, actor=actor, comment=comment, dry_run=dry_run,
                         progress=bar, on_item=on_item)
    out.tail(report.as_json())
    if not app.as_json:
        click.echo(_summary_text(report.as_json(), plan.to_version, dry_run))
    return 3 if report.refused else 5 if report.conflicts else 0


def _plan_text(plan: Any, dry_run: bool) -> str:
    head = (f"{plan.workflow} -> v{plan.to_version}: {plan.items} running item"
            f"{'' if plan.items == 1 else 's'} on other versions"
            + (" (dry run: nothing is written)" if dry_run else ""))
    if not plan.moves:
        return head
    rows = []
    for m in plan.moves:
        if m.problem == "missing":
            dest = f"✗ v{plan.to_version} has no such state"
        else:
            dest = f"{m.dest_label} ({m.dest})" + (" --map" if m.mapped else "")
            dest += f" ✗ final in v{plan.to_version}" if m.problem == "final" else ""
        rows.append([f"v{m.version}", f"{m.source_label} ({m.source})", dest, m.items])
    return head + "\n" + table(["from", "state", "to", "items"], rows, max_width=60)


def _summary_text(summary: dict[str, Any], version: int, dry_run: bool) -> str:
    moved = summary["would_migrate" if dry_run else "migrated"]
    line = (f"{'would migrate' if dry_run else 'migrated'} {moved} item{'' if moved == 1 else 's'}"
            f" to v{version}")
    for key, word in (("conflicts", "changed underneath (run again)"),
                      ("refused", "refused")):
        if summary[key]:
            line += f"; {summary[key]} {word}"
    lines = [line]
    if summary["fields_dropped"]:
        lines.append("fields removed from items (kept in their migrate history row): "
                     + ", ".join(f"{k} {n}" for k, n in summary["fields_dropped"].items()))
    if summary["steps_already_applied"]:
        lines.append(f"escalation steps already applied in the current stay, not repeated: "
                     f"{summary['steps_already_applied']}")
    if summary["steps_due_now"]:
        lines.append(f"escalation steps already due under v{version} (the next sweep applies "
                     f"them, marked late): {summary['steps_due_now']}")
    return "\n".join(lines)


def diff_workflow(app: AppContext, name: str, v1: str, v2: str) -> None:
    from ..engine.app.migration import diff

    report = diff(app.service(), name, version_number(v1, "V1"), version_number(v2, "V2"))
    if app.as_json:
        echo_json(report.as_json())
        return
    items = report.in_flight
    lines = [f"{name} v{report.old} -> v{report.new}: {items} running item"
             f"{'' if items == 1 else 's'} on v{report.old}"]
    if not report.changes:
        lines.append("no differences")
    for kind, title in (("workflow", "settings"), ("role", "roles"), ("field", "fields"),
                        ("state", "states"), ("transition", "transitions")):
        changes = [(c, n) for c, n in report.changes if c.kind == kind]
        if changes:
            lines.append(f"\n{title}")
            lines += [line for c, n in changes for line in _change_lines(c, n)]
    click.echo("\n".join(lines))


def _change_lines(change: Any, items: int) -> list[str]:
    label = f"  {change.label}" if change.label != change.name else ""
    touches = ""
    if change.touches is not None:
        what = "with a value" if change.touches[0] == "field" else "running"
        touches = f"  [{items} item{'' if items == 1 else 's'} {what}]"
    lines = [f"  {MARKS[change.change]} {change.name}{label}{touches}"]
    for what, old, new in change.details:
        if len(old) + len(new) > 70:
            lines += [f"      {what}:", f"        was: {old}", f"        now: {new}"]
        else:
            lines.append(f"      {what}: {old} -> {new}")
    return lines

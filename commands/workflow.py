"""`rectify workflow ...`: validate files, load, list, show a readable table, draw the graph.

Each command declares its own arguments and options here; cli.py registers it on the
`workflow` group (migrate and diff are in migration.py). Engine modules are imported inside the
commands, so `rectify --help` loads none of them.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..engine.core.i18n import _, ngettext
from .support import AppContext, check_output, echo_json, exit_code, pass_app, table

if TYPE_CHECKING:
    from ..engine.core.spec import Duration, TransitionSpec, WorkflowSpec


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@pass_app
def validate(app: AppContext, files: tuple[str, ...]) -> None:
    """Check workflow files; every problem as FILE:LINE:COL: message (exit 6 if any)."""
    sys.exit(_validate(app, [Path(f) for f in files]))


@click.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_app
def load(app: AppContext, file: str) -> None:
    """Register a new version of a workflow if its content changed. Once an org with an admin
    (admin: true) is loaded, only admins may (--as)."""
    from ..engine.app.admin import load_workflow

    version, created = load_workflow(app.service(), Path(file), app.actor)
    if app.as_json:
        echo_json({"workflow": version.name, "version": version.version, "new": created})
    else:
        click.echo((_("workflow {name} v{version}: registered") if created else
                    _("workflow {name} v{version}: unchanged (same content)")).format(
                        name=version.name, version=version.version))


def _validate(app: AppContext, paths: list[Path]) -> int:
    """Exit status: 0 if all are valid, 6 if any is not. Every problem goes to stderr."""
    from ..engine.core.errors import InvalidInput
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
            states, transitions = len(spec.states), len(spec.transitions)
            click.echo(_("{path}: ok ({name}: {states}, {transitions})").format(
                path=path, name=spec.name,
                states=ngettext("{count} state", "{count} states", states).format(count=states),
                transitions=ngettext("{count} transition", "{count} transitions",
                                     transitions).format(count=transitions)))
    if app.as_json:
        echo_json(results)
    return exit_code(InvalidInput([])) if failed else 0


def resolve_spec(app: AppContext, name: str) -> WorkflowSpec:
    """A workflow by file path, by id or title in the database, or a bundled one."""
    from ..engine.core.errors import NotFound
    from ..engine.core.loader import load_workflow_file
    from ..workflows import BUNDLED, bundled

    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_workflow_file(path)
    loaded: list[str] = []
    if Path(app.db.removeprefix("sqlite:///")).exists() or not app.db.startswith("sqlite"):
        names = app.names()
        try:
            return names.workflows[names.workflow(name)]
        except NotFound:
            loaded = [*names.workflows, *(s.title for s in names.workflows.values())]
    found = bundled(name)
    if found is None:
        import difflib

        known = sorted({*loaded, *BUNDLED})
        raise NotFound("workflow", name, close=difflib.get_close_matches(name, known, n=3))
    return load_workflow_file(found)


@click.command("list")
@pass_app
def list_(app: AppContext) -> None:
    """Workflows in the database, newest version of each."""
    from ..engine.store.db import read
    from ..engine.store.repo import workflow_names

    with read(app.service().engine) as conn:
        rows = workflow_names(conn)
    if app.as_json:
        echo_json([{"workflow": r.name, "version": r.version, "file": r.file,
                    "loaded_at": r.loaded_at} for r in rows])
        return
    click.echo(table([_("workflow"), _("version"), _("loaded"), _("file")],
                     [[r.name, r.version, r.loaded_at.strftime("%Y-%m-%d %H:%M"), r.file]
                      for r in rows], max_width=60))


@click.command("show")
@click.argument("name")
@pass_app
def show(app: AppContext, name: str) -> None:
    """States, transitions and escalation ladders of a workflow (NAME or FILE)."""
    spec = resolve_spec(app, name)
    if app.as_json:
        echo_json(_as_dict(spec))
        return
    click.echo(_("{name}: {title}  (timezone {timezone}, calendar {calendar})").format(
                   name=spec.name, title=spec.title, timezone=spec.timezone,
                   calendar=spec.calendar))
    click.echo(_("\nstates:"))
    click.echo(table([_("state"), _("label"), _("deadline"), _("final")],
                     [[s.name, s.label, s.deadline.words() if s.deadline else "",
                       _("yes") if s.final else ""]
                      for s in spec.states.values()]))
    click.echo(_("\ntransitions:"))
    click.echo(table([_("trigger"), _("from"), _("to"), _("roles"), _("rules")],
                     [[t.trigger, ", ".join(t.sources), t.dest,
                       ", ".join(spec.role_label(r) for r in t.roles), _rules(spec, t)]
                      for t in spec.transitions], max_width=60))
    ladders = [(s, step) for s in spec.states.values() for step in s.escalate]
    if ladders:
        click.echo(_("\nescalation:"))
        click.echo(table([_("state"), _("at"), _("level"), _("notify"), _("fire")],
                         [[s.label, _when(step.at), step.level or "",
                           ", ".join(_who(spec, n) for n in step.notify), step.fire or ""]
                          for s, step in ladders]))


def _when(at: Duration) -> str:
    """A ladder step's time, relative to the deadline, said as such (no bare minus sign)."""
    if not at.amount:
        return _("deadline")
    before = at.amount < 0
    return (_("{span} before the deadline") if before else
            _("{span} after the deadline")).format(span=at.words())


def _who(spec: WorkflowSpec, name: str) -> str:
    """Whom a ladder notifies or a rule names: the item's own people in words, a role by label."""
    people = {"assignee": _("assignee"), "creator": _("creator")}
    return people.get(name) or spec.role_label(name)


def _rules(spec: WorkflowSpec, t: TransitionSpec) -> str:
    rules = []
    if t.actor:
        rules.append(_("only the {actor}").format(actor=_who(spec, t.actor)))
    if t.not_actor_of:
        rules.append(_("not whoever fired {trigger}").format(trigger=t.not_actor_of))
    if t.requires:
        rules.append(_("needs {fields}").format(
            fields=", ".join(spec.field_label(f) for f in t.requires)))
    if t.comment_required:
        rules.append(_("comment"))  # a comment is required
    if t.when:
        rules.append(_("when {guard}").format(guard=t.when))
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


@click.command("graph")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg", "png"]),
              default="mermaid", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
@pass_app
def graph(app: AppContext, name: str, fmt: str, output: str | None) -> None:
    """The state graph as Mermaid or Graphviz (svg/png need Graphviz's `dot`)."""
    check_output(Path(output) if output else None)
    _graph(app, name, fmt, Path(output) if output else None)


def _graph(app: AppContext, name: str, fmt: str, output: Path | None) -> None:
    import shutil
    import subprocess

    from ..engine.core.errors import UsageError
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
        raise UsageError(_("--format {fmt} needs Graphviz's `dot` program, which "
                           "is not installed (Debian: apt-get install graphviz); "
                           "--format dot or mermaid work without it").format(
                             fmt=fmt))
    if output is None:
        raise UsageError(_("--format {fmt} writes a binary file: give -o FILE").format(
                             fmt=fmt))
    subprocess.run([dot, f"-T{fmt}", "-o", str(output)], input=to_dot(spec).encode("utf-8"),
                   check=True)
    click.echo(_("wrote {output}").format(output=output))

"""Guards and notice templates (engine/core/guard_sandbox.py, notifications/render.py): the
Jinja2 escape of CVE-2025-27516 stays closed under the pinned release, and nothing an admin writes
runs for minutes or allocates gigabytes; templates stay in their workflow's folder."""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib.metadata import version
from pathlib import Path

import pytest
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.guard import GuardError, compile_guard, evaluate
from rectify.engine.core.loader import load_workflow
from rectify.notifications.render import RenderError, render

ROOT = Path(__file__).parents[2]
BASE = (ROOT / "tests" / "fixtures" / "broken" / "_valid_base.yaml").read_text("utf-8")
ESCAPE = '"{0.__init__.__globals__[os].environ}"|attr("format")(%s)'
Within = Callable[[float], AbstractContextManager[None]]


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def test_jinja2_floor_is_the_release_that_closed_the_format_escape() -> None:
    """pyproject requires Jinja2 3.1.6 or later (3.1.5 let `|attr("format")` read os.environ),
    and the installed one is at least that."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    floor = next(d for d in deps if d.lower().startswith("jinja2"))
    assert _release(floor.split(">=")[1]) >= (3, 1, 6), floor
    assert _release(version("jinja2")) >= (3, 1, 6)


def test_format_escape_in_a_template_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """A notice template using the escape fails to render and never prints the environment."""
    monkeypatch.setenv("RECTIFY_SECRET_FOR_TEST", "s3cr3t-value")
    (tmp_path / "leak.txt.j2").write_text("主题\n{{ " + ESCAPE % "cycler" + " }}\n", "utf-8")
    with pytest.raises(RenderError) as info:
        render("leak", {}, extra_dir=tmp_path)
    assert "s3cr3t-value" not in str(info.value)


def test_format_escape_in_a_guard_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same escape in a `when:` guard is an error, not the environment in a comparison."""
    monkeypatch.setenv("RECTIFY_SECRET_FOR_TEST", "s3cr3t-value")
    with pytest.raises(GuardError) as info:
        evaluate(ESCAPE % "count" + ' != ""', {}, {})
    assert "s3cr3t-value" not in str(info.value)


@pytest.mark.parametrize("guard", [
    "(((9**99)**99)**99)**99 > votes",
    '"x" * 2500000000 == description',
    '"x"|center(2500000000) == description',
    '"%2000000000d" % 1 == description',
    '"{:2000000000}".format(1) == description',
    '"x"|replace("x", "y" * 9000)|replace("y", "z" * 9000) == description',
])
def test_guard_bombs_are_refused_at_load(guard: str, within: Within) -> None:
    """A guard whose constant part would run for minutes or build gigabytes fails validation
    (exit 6 at `workflow validate`), quickly, naming the line of the guard."""
    text = BASE.replace('when: "votes >= 1"', f"when: '{guard}'")
    with within(5), pytest.raises(InvalidInput, match=r"mini\.yaml:\d+"):
        load_workflow(text, "mini.yaml", templates=frozenset({"reminder", "overdue"}))


@pytest.mark.parametrize(("guard", "fields"), [
    ("votes ** 99 ** 99 > 1", {"votes": 10**40}),
    ("votes * votes * votes * votes * votes > 1", {"votes": 10**300}),
    ('"{:{}}".format(1, votes) != ""', {"votes": 10**9}),
    ("description|center(votes) != ''", {"description": "x", "votes": 10**9}),
    ("description * votes != ''", {"description": "x", "votes": 10**9}),
])
def test_guard_bombs_over_field_values_are_cut_off(guard: str, fields: dict[str, object],
                                                  within: Within) -> None:
    """When the size comes from a field, the guard fails at run time, in milliseconds."""
    compile_guard(guard)
    start = time.monotonic()
    with within(5), pytest.raises(GuardError, match="not allowed"):
        evaluate(guard, fields, {})
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("body", [
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}",
    "{{ range(10**9)|length }}",
    "{{ lipsum(10**6) }}",
    "{{ name|center(2500000000) }}",
    "{{ '%2000000000d' % 1 }}",
    "{{ name|indent(2500000000) }}",
    "{{ '{:999999999}'|format(1) }}",
])
def test_template_bombs_fail_fast(tmp_path: Path, body: str, within: Within) -> None:
    """A template that loops or builds huge values fails (RenderError, its outbox row failed)
    within about its one-second budget, so a sweep or dispatch goes on with the other rows."""
    (tmp_path / "bomb.txt.j2").write_text("主题\n" + body + "\n", "utf-8")
    start = time.monotonic()
    with within(10), pytest.raises(RenderError):
        render("bomb", {"name": "张三"}, extra_dir=tmp_path)
    assert time.monotonic() - start < 3


def test_ordinary_templates_still_render(tmp_path: Path) -> None:
    """The bounds leave ordinary loops, widths and formatting alone."""
    (tmp_path / "ok.txt.j2").write_text(
        "主题 {{ '%05d'|format(7) }}\n{% for i in range(3) %}{{ i }}{% endfor %}"
        "{{ name|center(8) }}{{ '{:>4}'.format(1) }}\n", "utf-8")
    subject, body, _ = render("ok", {"name": "张三"}, extra_dir=tmp_path)
    assert subject == "主题 00007"
    assert body == "012   张三      1"


def test_symlinked_include_is_not_followed(tmp_path: Path) -> None:
    """`{% include "leak" %}` with `leak -> /etc/passwd` in the admin's folder renders nothing
    of that file: the link is refused."""
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret-line", "utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "leak").symlink_to(secret)
    (folder / "notice.txt.j2").write_text('主题\n{% include "leak" %}\n', "utf-8")
    with pytest.raises(RenderError) as info:
        render("notice", {}, extra_dir=folder)
    assert "secret-line" not in str(info.value)


def test_symlinked_template_folder_is_not_followed(tmp_path: Path) -> None:
    """The admin's folder being itself a link to elsewhere is refused too."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notice.txt.j2").write_text("主题\nsecret-line\n", "utf-8")
    (tmp_path / "templates").symlink_to(elsewhere)
    with pytest.raises(RenderError):
        render("notice", {}, extra_dir=tmp_path / "templates")


@pytest.mark.parametrize("folder", ["../../..", "/etc", "templates/../../x", "C:\\\\Windows"])
def test_templates_folder_outside_the_workflow_folder_is_refused(folder: str) -> None:
    """`templates:` names a folder inside the workflow file's folder: an absolute path or `..`
    fails validation at its line."""
    text = BASE.replace("title: Mini\n", f"title: Mini\ntemplates: '{folder}'\n")
    with pytest.raises(InvalidInput, match=r"mini\.yaml:4:\d+: templates must be a folder inside"):
        load_workflow(text, "mini.yaml", templates=frozenset({"reminder", "overdue"}))


def test_templates_folder_inside_is_accepted() -> None:
    """A plain relative folder still loads."""
    text = BASE.replace("title: Mini\n", "title: Mini\ntemplates: notices/county\n")
    spec = load_workflow(text, "mini.yaml", templates=frozenset({"reminder", "overdue"}))
    assert spec.templates_dir == "notices/county"


def test_template_loop_is_cut_off_in_a_worker_thread(tmp_path: Path) -> None:
    """The scheduler renders in worker threads, where no signal reaches: the budget holds
    there too (the traced path), and on the main thread without a test timer (the alarm)."""
    import threading

    (tmp_path / "loop.txt.j2").write_text(
        "主题\n{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}\n",
        "utf-8")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            render("loop", {}, extra_dir=tmp_path)
        except BaseException as exc:
            errors.append(exc)

    for runner in (threading.Thread(target=run), None):
        start = time.monotonic()
        if runner is None:
            run()
        else:
            runner.start()
            runner.join(30)
        assert time.monotonic() - start < 5
    assert len(errors) == 2 and all(isinstance(e, RenderError) for e in errors)


@pytest.mark.parametrize("body", [
    "{{ item.pop('id') }}", "{{ item.update({'id': 2}) }}", "{{ item.clear() }}",
    "{{ item.setdefault('x', 1) }}", "{{ item.popitem() }}", "{{ item.__class__ }}",
    "{% set f = item.pop %}{{ f('id') }}", "{{ (item|attr('pop'))('id') }}",
])
def test_a_dicts_mutating_methods_stay_refused(tmp_path: Path, body: str) -> None:
    """The read-only dict methods a template calls without the sandbox's checks (render.py's
    fast path for `item.fields.items()`) are those four; every method that changes the dict,
    however it is reached, is refused as before and the context is left as it was."""
    (tmp_path / "mutate.txt.j2").write_text("主题\n" + body + "\n", "utf-8")
    context = {"item": {"id": 1}}
    with pytest.raises(RenderError):
        render("mutate", context, extra_dir=tmp_path)
    assert context == {"item": {"id": 1}}


def test_a_dicts_read_only_methods_answer_as_the_sandbox_does(tmp_path: Path) -> None:
    """`items`, `keys`, `values` and `get` on a context's dict, directly, through a variable
    and through `attr`, give what Jinja's own sandbox gives; a key named like a method is
    still shadowed by the method, as there."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    body = ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys()|list }}|"
            "{{ d.values()|list }}|{{ d.get('a') }}{{ d.get('zz', '-') }}|"
            "{% set g = d.get %}{{ g('b') }}|{{ (d|attr('get'))('a') }}|{{ d.items is callable }}")
    (tmp_path / "reads.txt.j2").write_text("主题\n" + body + "\n", "utf-8")
    context = {"d": {"a": 1, "b": "乙", "items": "shadowed"}}
    expected = ImmutableSandboxedEnvironment().from_string(body).render(context)
    assert render("reads", context, extra_dir=tmp_path)[1] == expected
    assert expected.startswith("a=1;b=乙;items=shadowed;|['a', 'b', 'items']|")

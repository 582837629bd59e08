"""Rendering notification templates: bundled ones, overridable by a workflow's own folder.

A template NAME has a text form `NAME.txt.j2`, whose first line is the subject and the rest the
body, and a Markdown form `NAME.md.j2` for robots. Templates are written by admins, so they run
in Jinja's immutable sandbox (no `__class__` walks, no mutating the context) with
StrictUndefined (a misspelt variable is an error, not a silent blank).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import BuiltinMethodType, TracebackType
from typing import Any, TypeVar

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..engine.core.errors import RectifyError
from ..engine.core.guard_sandbox import TEMPLATE_GLOBALS, Bounded, budget_scope, time_budget
from ..engine.core.i18n import _
from .context import sample_context
from .message import Notification, Recipient
from .split import split_message

__all__ = [
    "BUNDLED_DIR",
    "RenderError",
    "Rendered",
    "check_template",
    "compose",
    "escape_markdown",
    "render",
    "rendering",
    "sample_context",
    "split_message",
    "template_names",
]

BUNDLED_DIR = Path(__file__).parent / "templates"  # shipped as package data
TEXT = ".txt.j2"
MARKDOWN = ".md.j2"


# Wall-clock budget of rendering a notice's forms (those read together share one timer, see
# Rendered): a notice takes milliseconds; a template that loops for longer fails its own
# outbox row quickly and the sweep or dispatch goes on with the rest.
BUDGET_SECONDS = 1.0
_MARKDOWN_MARKS = re.compile(r"([\\`*_\[\]()<>|~])")
_HEADING = re.compile(r"^(\s*)#", re.MULTILINE)  # `#` makes a heading only at a line's start


class RenderError(RectifyError):
    """A template could not be rendered; the message says which file and line."""


_DICT_NAMES = frozenset(dir(dict))
_DICT_READS = frozenset({"items", "keys", "values", "get"})  # the immutable sandbox allows these
_T = TypeVar("_T")


class _TemplateEnvironment(Bounded, ImmutableSandboxedEnvironment):
    """The immutable sandbox with the guards' bounds on sizes (guard_sandbox.Bounded)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._loaded: dict[tuple[str, str | None], Template] = {}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`item.id` on a plain dict, as the sandbox reads it (a dict's own attribute first,
        then its key) without the AttributeError the sandbox raises and catches on every key:
        a stored notice's context is JSON, all dicts, and a notice reads dozens of keys."""
        if type(obj) is dict:
            if attribute not in _DICT_NAMES:
                try:
                    return obj[attribute]
                except KeyError:
                    return self.undefined(obj=obj, name=attribute)
            if attribute in _DICT_READS:  # what the sandbox gives: the method, found safe
                return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """`item.fields.items()`: a dict's read-only method called as the sandbox calls it,
        without the checks it makes first, which probe a builtin for Jinja's markers (a
        `jinja_pass_arg`, `unsafe_callable`, ...) and raise and catch an AttributeError for
        each: a third of `_item.txt.j2`'s time. Only those four methods of a plain dict; any
        other call is the sandbox's (and the guards' bounds)."""
        if type(obj) is BuiltinMethodType and type(obj.__self__) is dict \
                and obj.__name__ in _DICT_READS:
            kwargs.pop("_loop_vars", None)  # what Jinja passes for context functions only
            kwargs.pop("_block_vars", None)
            return obj(*args, **kwargs)
        if type(obj) is Macro:  # a template's own macro: the sandbox finds it safe to call
            return context.call(obj, *args, **kwargs)
        return super().call(context, obj, *args, **kwargs)

    def get_template(self, name: Any, parent: str | None = None,
                     globals: MutableMapping[str, Any] | None = None) -> Template:
        """A template by name, looked up once per (name, including template): every render,
        include and import asks again, and ours are never reloaded (auto_reload is off and
        the cache unbounded; a new environment starts afresh)."""
        if globals or not isinstance(name, str):
            return super().get_template(name, parent, globals)
        found = self._loaded.get((name, parent))
        if found is None:
            found = self._loaded[(name, parent)] = super().get_template(name, parent)
        return found

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one dict, not Jinja's ChainMap over the environment's: every
        render and include copies them into a new context, and a ChainMap is walked key by key.
        Jinja chains them so later changes to the environment's globals reach loaded templates;
        ours are set once, in `_environment`, before any template is loaded."""
        return {**self.globals, **(d or {})}


class _ConfinedLoader(FileSystemLoader):
    """FileSystemLoader that follows no symbolic link: `{% include "leak" %}` with
    `leak -> /etc/passwd` in the admin's folder must not put that file into a notice."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        for folder in self.searchpath:
            path = Path(folder)
            if path.is_symlink():  # the admin's folder itself pointing elsewhere
                raise TemplateNotFound(_("{template} (its folder is a symbolic link, not "
                                         "followed)").format(template=template))
            for part in template.split("/"):
                path = path / part
                if path.is_symlink():
                    raise TemplateNotFound(_("{template} (a symbolic link, not "
                                             "followed)").format(template=template))
            if path.is_file():
                break  # found here, without links: Jinja reads this very file
        return super().get_source(environment, template)


@functools.lru_cache(maxsize=16)
def _environment(extra_dir: str | None) -> ImmutableSandboxedEnvironment:
    search = [extra_dir, str(BUNDLED_DIR)] if extra_dir else [str(BUNDLED_DIR)]
    env = _TemplateEnvironment(
        loader=_ConfinedLoader(search),  # the admin's folder first: theirs override ours
        undefined=StrictUndefined,
        autoescape=False,  # text and Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_blank_none,
        # Templates are read once per process: a sweep renders thousands of notices and must
        # not stat every file (and every include) each time. Restart to pick up edited ones.
        auto_reload=False,
        cache_size=-1,
    )
    env.globals.pop("lipsum", None)  # lipsum(10**9) would build gigabytes in one call
    env.globals.update(TEMPLATE_GLOBALS)
    env.bound_filters()
    return env


def _blank_none(value: Any) -> Any:
    """Print None as nothing: staff should never read the word "None" in a notice."""
    return "" if value is None else value


def template_names(extra_dir: str | Path | None = None) -> set[str]:
    """Every template name available; files starting with `_` are partials, not templates."""
    folders = [BUNDLED_DIR] + ([Path(extra_dir)] if extra_dir else [])
    return {
        path.name.removesuffix(TEXT)
        for folder in folders if folder.is_dir()
        for path in folder.glob(f"*{TEXT}") if not path.name.startswith("_")
    }


def render(
    name: str, context: Mapping[str, Any], *, extra_dir: str | Path | None = None
) -> tuple[str, str, str]:
    """(subject, text body, markdown) of template `name`; RenderError if it cannot render."""
    return Rendered(name, context, extra_dir).every()


class Rendered:
    """The forms of template `name` with `context` (message.Forms), each rendered when first
    read: a dispatch renders what its channel sends (the log and mail the text, a WeCom robot
    the Markdown, a file or webhook both), no more. Reading a form may raise RenderError.

    Each read that renders runs in one time budget (BUDGET_SECONDS); `every` renders what is
    missing in one budget, since setting a timer costs more than rendering a short form."""

    def __init__(self, name: str, context: Mapping[str, Any],
                 extra_dir: str | Path | None = None) -> None:
        self.name, self.context, self.extra_dir = name, context, extra_dir
        self._env = _environment(str(extra_dir) if extra_dir else None)
        self._text: tuple[str, str] | None = None  # (subject, body)
        self._markdown: str | None = None

    @property
    def subject(self) -> str:
        return (self._text or self._budgeted(self._text_form))[0]

    @property
    def text(self) -> str:
        return (self._text or self._budgeted(self._text_form))[1]

    @property
    def markdown(self) -> str:
        return self._markdown if self._markdown is not None \
            else self._budgeted(self._markdown_form)

    def every(self) -> tuple[str, str, str]:
        """(subject, text body, markdown)."""
        if self._text is None or self._markdown is None:
            self._budgeted(self._markdown_form if self._text else self._both)
        assert self._text is not None and self._markdown is not None
        return (*self._text, self._markdown)

    def _budgeted(self, form: Callable[[], _T]) -> _T:
        try:
            with time_budget(BUDGET_SECONDS):
                return form()
        except SecurityError as exc:  # the budget ran out between two steps, not in a form
            raise RenderError(f"{self.name}{TEXT}: not allowed in a template: {exc}") from exc

    def _both(self) -> None:
        self._text_form()
        self._markdown_form()

    def _text_form(self) -> tuple[str, str]:
        if self._text is None:
            filename = self.name + TEXT
            self._text = _split_subject(_render_form(self._env, filename, self.context),
                                        filename)
        return self._text

    def _markdown_form(self) -> str:
        if self._markdown is None:
            if _derive_markdown(self._env, self.name, self.extra_dir):
                subject, body = self._text_form()
                self._markdown = f"### {escape_markdown(subject)}\n\n{escape_markdown(body)}"
            else:
                self._markdown = _render_form(self._env, self.name + MARKDOWN,
                                              _escaped(self.context)).strip()
        return self._markdown


def rendering() -> AbstractContextManager[None]:
    """Around many renders in a row (a dispatch pass): their time budgets share one alarm
    handler instead of installing and restoring one per notice."""
    return budget_scope()


def escape_markdown(text: str) -> str:
    """Backslash every Markdown mark, so a value reads as typed: `[点我](javascript:…)` in a
    field must not go out to a robot as a link, nor `**` turn the rest of a notice bold."""
    return _HEADING.sub(r"\1\\#", _MARKDOWN_MARKS.sub(r"\\\1", text))


def _escaped(value: Any) -> Any:
    """The context with every string in it Markdown-escaped (the template's own marks stay)."""
    kind = type(value)  # a stored context is JSON: exact types first, the ABCs cost more
    if kind is str:
        return _escaped_text(value)
    if kind is dict:  # keys are names templates use; strings escaped here, without a call
        return {k: _escaped_text(v) if type(v) is str else _escaped(v) for k, v in value.items()}
    if kind is list:
        return [_escaped_text(v) if type(v) is str else _escaped(v) for v in value]
    if kind in _SCALARS:  # most of a context: ids, flags, nulls (no ABC check for them)
        return value
    if isinstance(value, str):
        return escape_markdown(value)
    if isinstance(value, Mapping):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_escaped(v) for v in value]
    return value


_SCALARS = frozenset({int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def _escaped_text(text: str) -> str:
    """escape_markdown, remembered: a dispatch escapes the same labels, units, names and
    states in every notice it renders."""
    return escape_markdown(text)


def check_template(
    name: str, sample_context: Mapping[str, Any], *, extra_dir: str | Path | None = None
) -> list[str]:
    """Problems rendering `name` with a sample context, each as `file:line: message`; [] if fine."""
    env = _environment(str(extra_dir) if extra_dir else None)
    problems = []
    for suffix in (TEXT, MARKDOWN):
        if suffix == MARKDOWN and _derive_markdown(env, name, extra_dir):
            continue
        try:
            with time_budget(BUDGET_SECONDS):
                output = _render_form(env, name + suffix, sample_context)
            if suffix == TEXT:
                _split_subject(output, name + TEXT)
        except RenderError as exc:
            problems.append(str(exc))
    return problems


def compose(
    key: str,
    template: str,
    context: Mapping[str, Any],
    recipients: Iterable[Recipient],
    *,
    item_id: int | None = None,
    unit: str | None = None,
    extra_dir: str | Path | None = None,
) -> Notification:
    """Render `template` and pack it with its recipients; the context travels as `data`."""
    subject, text, markdown = render(template, context, extra_dir=extra_dir)
    return Notification(
        key=key, template=template, subject=subject, text=text, markdown=markdown,
        recipients=tuple(recipients), item_id=item_id, unit=unit, data=dict(context),
    )


def _render_form(env: ImmutableSandboxedEnvironment, filename: str, context: Mapping[str, Any]
                 ) -> str:
    try:
        return env.get_template(filename).render(context)
    except TemplateNotFound as exc:
        raise RenderError(_("template '{name}' not found").format(name=exc.name)) from exc
    except TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or filename}:{exc.lineno}: {exc.message}") from exc
    except SecurityError as exc:
        where = _where(exc.__traceback__, filename)
        raise RenderError(_("{where}: not allowed in a template: {reason}").format(
            where=where, reason=exc)) from exc
    except Exception as exc:  # an admin's template may fail in any way; report, do not crash
        where = _where(exc.__traceback__, filename)
        raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _where(tb: TracebackType | None, filename: str) -> str:
    """`file:line` of the innermost template frame (Jinja rewrites tracebacks to template lines)."""
    where = filename
    while tb is not None:
        code = tb.tb_frame.f_code.co_filename
        if code.endswith(".j2"):
            where = f"{code}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _split_subject(text: str, filename: str) -> tuple[str, str]:
    first, _newline, rest = text.partition("\n")
    subject = first.strip()
    if not subject:
        raise RenderError(_("{file}: the first line (the subject) is empty").format(
            file=filename))
    return subject, rest.strip("\n").rstrip()


@functools.lru_cache(maxsize=256)
def _derive_markdown(
    env: ImmutableSandboxedEnvironment, name: str, extra_dir: str | Path | None
) -> bool:
    """True when the Markdown form is made from the text form instead of a template.

    That is when no folder has `NAME.md.j2`, or when the admin's folder overrides the text form
    but not the Markdown: pairing their text with our Markdown would send two different messages.
    """
    if extra_dir:
        folder = Path(extra_dir)
        if (folder / (name + TEXT)).is_file() and not (folder / (name + MARKDOWN)).is_file():
            return True
    try:
        env.get_template(name + MARKDOWN)
    except TemplateNotFound:
        return True
    except Exception:  # a broken Markdown form is reported when rendered, not here
        return False
    return False

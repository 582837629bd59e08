"""What every command shares: the app context (database, actor, clock, settings), output helpers,
and the one place where errors become exit codes and a single line on stderr."""

from __future__ import annotations

import json
import re
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..engine.app.runtime import Runtime, Store
from ..engine.core.i18n import _, english
from ..engine.core.logs import configure_logging

if TYPE_CHECKING:
    from ..engine.app.names import Names
    from ..engine.app.service import Service

__all__ = ["ITEM_ID", "AppContext", "configure_logging", "pass_app"]


@dataclass
class AppContext(Runtime):
    """The CLI's global options: where the app runs, plus who says they act and how to print."""

    actor: str | None = None
    as_json: bool = False
    _names: Names | None = None

    def names(self) -> Names:
        """Units, people, workflows and states by id or name, read once per command."""
        if self._names is None:
            from ..engine.app.names import Names

            self._names = Names.read(self.service())
        return self._names

    def service(self, *, check: bool = True) -> Service:
        """The runtime's service, recording the operating-system account on the rows the CLI
        writes: `--as` is trusted (whoever holds the database file or URL may say anything),
        so the account that ran the command is kept beside it."""
        service = super().service(check=check)
        if service.os_user is None:
            service.os_user = _os_user()
            if check:
                self._resolve_actor(service)
        return service

    def store(self) -> Store:
        """The runtime's database and clock, without a Service (`outbox dispatch`); `--as`
        is checked as `service` checks it."""
        if self._service is not None:
            return Store(self._service.engine, self._service.clock)
        store = super().store()
        self._resolve_actor(store)
        return store

    def _resolve_actor(self, place: Service | Store) -> None:
        """`--as 王五` as well as `--as wang`; nobody of that id or name is refused here."""
        if self.actor:
            from ..engine.app.names import acting_person

            self.actor = acting_person(place, self.actor)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()[:64]
    except (OSError, KeyError):  # no name for this uid (a container)
        import os

        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


# Hands each command the AppContext the root group made from the global options.
pass_app = click.make_pass_decorator(AppContext)

# The global options (contract section 2) as (flags, AppContext attribute, is a flag). --lang
# has no attribute: commands/language.py reads it from the whole command line before parsing.
GLOBAL_OPTIONS = ((("--db",), "db", False), (("--as",), "actor", False),
                  (("--now",), "now_text", False), (("--config",), "config", False),
                  (("--json",), "as_json", True), (("--lang",), "", False))


def accept_global_options(group: click.Group) -> None:
    """Let the global options come after the subcommand too (`rectify item show 1 --json
    --as wang`), as `gh` and `kubectl` users expect: each command and group below the root gets
    hidden copies that set the root's AppContext (which exists by then: click runs a group's
    callback before it parses its subcommand's arguments)."""
    for command in group.commands.values():
        for flags, attr, is_flag in GLOBAL_OPTIONS:
            if not any(set(flags) & set(p.opts) for p in command.params):
                command.params.append(click.Option(
                    flags, f"late_{attr}", is_flag=is_flag, default=None, hidden=True,
                    expose_value=False, callback=_setter(attr)))
        if isinstance(command, click.Group):
            accept_global_options(command)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def set_late(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if attr and value is not None and value is not False:
            setattr(ctx.ensure_object(AppContext), attr, value)

    return set_late


def item_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """The filters `item list` and `item bulk` share (they reach the command as **filters);
    each by id or by name/label, turned into ids by `AppContext.names().item_filter`."""
    for option in reversed([
        click.option("--state", help="A state's id or label (整改中)."),
        click.option("--unit", help="This unit and all below it (id or name)."),
        click.option("--assignee", help="A person's id or name."),
        click.option("--workflow", help="A workflow's id or title."),
        click.option("--overdue", is_flag=True, help="Past their deadline and not closed."),
    ]):
        func = option(func)
    return func


class ItemNumber(click.ParamType):
    """An item's number on the command line. Anything else (`abc`, 0, a number past the 64-bit
    ids both databases keep) is a usage error said in the user's words, as rectify's own usage
    errors are, rather than click's ("'abc' is not a valid integer range")."""

    name = "item"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        from ..engine.core.errors import UsageError

        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            number = int(text) if text.isdecimal() else 0  # １２ typed in a Chinese IME too
        if not 1 <= number < 2**63:
            raise UsageError(_("{value!r} is not an item number: an item is given by its "
                               "number, such as 12 (rectify item list shows them)").format(
                                 value=str(value)))
        return number


ITEM_ID = ItemNumber()


def parse_fields(pairs: Iterable[str]) -> dict[str, str]:
    from ..engine.core.errors import UsageError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(_("--field {pair!r}: expected KEY=VALUE").format(
                                 pair=pair))
        out[key.strip()] = value
    return out


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_default))


@lru_cache(maxsize=8192)
def width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal. Remembered: a list's
    cells are mostly the same few units, states, people and days, and each cell is measured
    twice (clipped, then padded)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(ch) for ch in text)


def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


class JsonStream:
    """One JSON document written as it goes, so per-item results never pile up in memory:
    the head's keys, then `key`: [...] one by one, then "summary"."""

    def __init__(self, enabled: bool, key: str) -> None:
        self.enabled = enabled
        self.key = key
        self.count = 0

    def head(self, head: dict[str, Any]) -> None:
        if self.enabled:
            text = json.dumps(head, ensure_ascii=False, indent=2)
            click.echo(text[:-2] + f',\n  "{self.key}": [', nl=False)

    def item(self, result: dict[str, Any]) -> None:
        if self.enabled:
            sep = "," if self.count else ""
            line = json.dumps(result, ensure_ascii=False, default=english)  # a Text: English
            click.echo(f"{sep}\n    {line}", nl=False)
            self.count += 1

    def tail(self, summary: dict[str, Any] | None) -> None:
        if self.enabled:
            close = "\n  ]" if self.count else "]"
            click.echo(f'{close},\n  "summary": {json.dumps(summary, ensure_ascii=False)}\n}}')


@contextmanager
def progress(total: int, label: str, *, from_items: int = 1000
             ) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when a person watches a long run; None otherwise."""
    if total < from_items or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


# Terminal escape sequences (CSI `ESC [ ... X`, OSC `ESC ] ... BEL` such as a window title, other
# `ESC X`), then any control character left (C0, DEL, C1) and the bidi overrides that reorder
# what a line appears to say. Stored text comes from anyone who can comment or import a ledger.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
                      r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe to print on one terminal line: escape sequences dropped, line breaks, tabs
    and `\\r` (which would overwrite what came before) as spaces, other controls dropped."""
    text = _ESCAPES.sub("", text)
    return _CONTROLS.sub(lambda m: " " if m[0] in "\n\r\t\v\f" else "", text)


def check_output(path: Path | None) -> None:
    """`-o PATH` may name a new file or replace a regular one, never a device, a folder, a fifo
    or a link: `ledger export -o /dev/full --force` run as root replaced the device node."""
    from ..engine.core.errors import UsageError

    if path is None:
        return
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"-o {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise UsageError(_("-o {path} is not a regular file; rectify only writes "
                           "new files or replaces regular ones").format(path=path))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 40) -> str:
    """A plain aligned text table that lines up Chinese text too; stored text made printable."""
    cells = [[clip(printable(str(c)) if c is not None else "", max_width) for c in row]
             for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` columns with "…" when longer; one pass over it
    (measuring the growing prefix again for each character made a long list quadratic)."""
    text = text.replace("\n", " ")
    if width(text) <= limit:
        return text
    used = 0
    for i, ch in enumerate(text):
        used += _char_width(ch)
        if used > limit - 1:  # "…" takes the last column
            return text[:i] + "…"
    return text


# The contract's exit codes (section 2), the only place that knows them.
EXIT_CODES: dict[type[BaseException], int] = {}


def _exit_codes() -> dict[type[BaseException], int]:
    if not EXIT_CODES:
        from ..engine.core import errors

        EXIT_CODES.update({
            errors.UsageError: 2, errors.Refused: 3, errors.NotFound: 4, errors.Conflict: 5,
            errors.InvalidInput: 6, errors.IntegrityFailed: 7, errors.RectifyError: 1,
        })
    return EXIT_CODES


def exit_code(error: BaseException) -> int:
    """The exit code for one of our errors: its nearest class in the table, else 1."""
    codes = _exit_codes()
    return next((codes[k] for k in type(error).__mro__ if k in codes), 1)


def run(group: click.Group) -> None:
    """Run the CLI; map our errors to exit codes with one line on stderr."""
    from ..engine.core.errors import InvalidInput, RectifyError
    from .language import set_language

    set_language(group, sys.argv[1:])
    try:
        group.main(standalone_mode=False, prog_name="rectify")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.Abort:
        click.echo(_("aborted"), err=True)
        sys.exit(1)
    except InvalidInput as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(exit_code(exc))
    except RectifyError as exc:
        click.echo(_("rectify: {exc}").format(exc=exc), err=True)
        sys.exit(exit_code(exc))
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # a folder or file the command was given cannot be made or written
        from ..engine.core.i18n import os_error_text

        if exc.filename is None:
            click.echo(_("rectify: {exc}").format(exc=os_error_text(exc)), err=True)
        else:
            click.echo(_("rectify: {path}: {reason}").format(path=exc.filename,
                                                             reason=os_error_text(exc)), err=True)
        sys.exit(1)
    sys.exit(0)

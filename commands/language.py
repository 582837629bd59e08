"""The language of a command's messages: chosen before anything is printed, help included.

`--lang` is a root option like the others, but click prints `--help` while it is still parsing,
before any callback could act on the option; so the language is read from the command line
(anywhere in it, as global options may come after the subcommand) and the locale variables first,
and the help texts of the whole command tree are looked up in the catalogue then. The English
text each one was declared with is kept as its message id, so a second run in the same process
(the in-process tests) can switch language. click names a value's type in its errors ("'x' is not
a valid integer", "File 'a.xlsx' does not exist") with words fixed when click was imported, and
makes each command's `--help` option once, in the language of the first run: both are put in the
chosen language here too.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence

import click

from ..engine.core.i18n import LANGUAGES, N_, language_from_env, translate, use_language

# click's type names, which it reads from the class (numbers) or sets at import (paths).
TYPE_NAMES = (N_("integer"), N_("integer range"), N_("float"), N_("float range"), N_("boolean"),
              N_("file"), N_("directory"), N_("path"))
REQUIRED = N_("required")  # click's "[required]" in help, looked up from a variable


def chosen_language(args: Sequence[str], environ: Mapping[str, str]) -> str:
    """`--lang X` / `--lang=X` on the command line, else the locale variables."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
        else:
            continue
        if value in LANGUAGES:
            return value
    return language_from_env(environ)


def set_language(group: click.Group, args: Sequence[str]) -> None:
    use_language(chosen_language(args, os.environ))
    _translate_tree(group)


def _translate_tree(command: click.Command) -> None:
    for attr in ("help", "short_help", "epilog"):
        _translate(command, attr)
    for param in command.params:
        if isinstance(param, click.Option):
            _translate(param, "help")
        if isinstance(param.type, click.Path | click.types.IntParamType
                      | click.types.FloatParamType | click.types.BoolParamType):
            if isinstance(param, click.Option) and param.metavar is None:
                # the placeholder in help (--size INTEGER) stays a placeholder, in capitals
                param.metavar = (getattr(param.type, "_msgid_name", None)
                                 or param.type.name).upper()
            _translate(param.type, "name")
    command._help_option = None  # made again, in this language, when first asked for
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _translate_tree(sub)


def _translate(obj: object, attr: str) -> None:
    key = f"_msgid_{attr}"
    if not hasattr(obj, key):
        text = getattr(obj, attr, None)
        setattr(obj, key, inspect.cleandoc(text) if text else text)
    msgid = getattr(obj, key)
    if msgid:
        setattr(obj, attr, translate(msgid))

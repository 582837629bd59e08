"""The language people read: Simplified Chinese or English, from gettext catalogues.

Every message a person reads is written in English in the code, wrapped in `_()` (or `ngettext`),
and looked up in the compiled catalogue `locale/zh/LC_MESSAGES/rectify.mo` that ships in the
package (`tools/catalogue.py` extracts, updates and compiles it with Babel). JSON output and exit
codes never go through here: scripts read the same bytes whatever the language.

The language is chosen once per command (`--lang`, else the locale variables) by `use_language`.
click's own messages ("Usage:", "No such option") go through the standard library's global
gettext domain, so the same catalogue answers them: the domain is bound to ours and `LANGUAGE`
set to the chosen language for the lookups click makes.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DOMAIN = "rectify"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
LANGUAGES = ("zh", "en")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"
# `in_language` for a while, in this thread or task only: a server renders a Chinese page in
# one worker thread while another answers the API in the server's language.
_for_a_while: ContextVar[tuple[str, gettext.NullTranslations] | None] = ContextVar(
    "rectify_language", default=None)


def language_from_env(environ: Mapping[str, str]) -> str:
    """The POSIX order (LC_ALL, then LC_MESSAGES, then LANG): Chinese when the first one set
    starts with `zh`, English otherwise (C, POSIX, en_US, unset...)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def use_language(language: str) -> None:
    """Make `language` ("zh" or "en") the one every later message is looked up in."""
    global _translation, _language
    if language not in LANGUAGES:
        language = "en"
    _language = language
    _translation = _catalogue(language)
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = language


def current_language() -> str:
    chosen = _for_a_while.get()
    return chosen[0] if chosen else _language


@cache
def _catalogue(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


@contextmanager
def in_language(language: str) -> Iterator[None]:
    """Messages in `language` for a while: what is written for the office to keep (a
    refused automatic step's notice and history row) is in Chinese whatever the session's.
    Only the calling thread (or task) changes language: the server's other requests keep
    theirs (before, a page rendered in Chinese could leave the whole API answering Chinese)."""
    if language not in LANGUAGES:
        language = "en"
    token = _for_a_while.set((language, _catalogue(language)))
    try:
        yield
    finally:
        _for_a_while.reset(token)


def _active() -> gettext.NullTranslations:
    chosen = _for_a_while.get()
    return chosen[1] if chosen else _translation


def _(message: str) -> str:
    """`message` in the chosen language (itself when the catalogue has no translation)."""
    return _active().gettext(message)


def translate(message_id: str) -> str:
    """`_` for an id held in a variable: the command tree's help texts, which the catalogue
    tool reads from the tree itself (the extractor only sees literals inside `_()`)."""
    return _active().gettext(message_id)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active().ngettext(singular, plural, n)


def os_error_text(exc: OSError) -> str:
    """What went wrong with a file, in the chosen language: the operating system's own words
    (`strerror`) are English whatever the locale, so the usual ones are in the catalogue."""
    import errno

    words = {errno.ENOENT: N_("no such file or folder"), errno.EACCES: N_("permission denied"),
             errno.EPERM: N_("operation not permitted"), errno.ENOTDIR: N_("not a folder"),
             errno.EISDIR: N_("is a folder"), errno.ENOSPC: N_("no space left on the disk"),
             errno.EROFS: N_("read-only file system"), errno.EEXIST: N_("already exists")}
    known = words.get(exc.errno or 0)
    return translate(known) if known else (exc.strerror or str(exc))


def N_(message: str) -> str:
    """Marks a message for the catalogue without translating it yet: for text defined at import
    time (help texts, labels in tables) and translated where it is shown."""
    return message


@dataclass(frozen=True, init=False)
class Text:
    """A message kept as its id and values, put into words each time it is shown: a finding
    (a ledger row's problem, a broken history) reads in the session's language on a terminal
    and in English in `--json`, which never changes with the language. Values may be Texts."""

    msgid: str
    values: tuple[tuple[str, Any], ...]

    def __init__(self, msgid: str, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "values", tuple(values.items()))

    def __str__(self) -> str:
        return translate(self.msgid).format(**dict(self.values))


def later(message: str, **values: Any) -> Text:
    """`_(message).format(**values)`, translated when shown rather than now (see Text)."""
    return Text(message, values)


def english(value: object) -> str:
    """`str(value)` in English whatever the session's language: what `--json` prints."""
    if isinstance(value, str):
        return value
    with in_language("en"):
        return str(value)

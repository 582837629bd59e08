"""The message catalogue, kept with Babel: extract, update, compile, check.

    python tools/catalogue.py update          # extract, merge into the zh .po, compile the .mo
    python tools/catalogue.py untranslated    # the msgids still without Chinese, as JSON
    python tools/catalogue.py fill FILE.json  # add translations {msgid: msgstr} to the .po, compile
    python tools/catalogue.py check           # exit 1 if a msgid lacks Chinese, a translation's
                                              # {placeholders} differ from its msgid's, or the .mo
                                              # is stale

Message ids come from three places: `_()`, `N_()` and `ngettext()` calls in our sources (Babel's
Python extractor), the help texts of the command tree (read from the tree itself, exactly as
click shows them), and click's own messages, which click looks up through gettext too.
"""

from __future__ import annotations

import inspect
import io
import json
import string
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "zh" / "LC_MESSAGES" / "rectify.po"
MO = PO.with_suffix(".mo")
SKIP = ("tests/**", "bench/**", "tools/**", "docs/**", "build/**", ".*/**")
KEYWORDS = {"_": None, "N_": None, "later": None, "ngettext": (1, 2)}


def template() -> Catalog:
    """Every message id a person may read, with where it comes from."""
    catalog = Catalog(project="rectify", locale=None)
    method_map = [(pattern, "ignore") for pattern in SKIP] + [("**.py", "python")]
    for filename, lineno, message, comments, _context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS, strip_comment_tags=True):
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments)
    for where, text in help_texts():
        catalog.add(text, locations=[(where, 0)])
    click_dir = Path(click.__file__).parent
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(click_dir), [("**.py", "python")], keywords={"_": None, "ngettext": (1, 2)}):
        catalog.add(message, locations=[(f"click/{filename}", lineno)])
    return catalog


def help_texts() -> Iterator[tuple[str, str]]:
    sys.path.insert(0, str(ROOT.parent))
    from rectify.cli import cli

    yield from _walk(cli, "rectify")


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, str]]:
    for attr in ("help", "short_help", "epilog"):
        text = getattr(command, f"_msgid_{attr}", getattr(command, attr, None))
        if text:
            yield path, inspect.cleandoc(text)
    for param in command.params:
        text = getattr(param, "_msgid_help", getattr(param, "help", None))
        if isinstance(param, click.Option) and text:
            yield f"{path}:{param.opts[0]}", inspect.cleandoc(text)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, f"{path}:{name}")


def load_po() -> Catalog:
    if not PO.exists():
        return Catalog(project="rectify", locale="zh")
    with PO.open("rb") as handle:
        return read_po(handle, locale="zh")


def save(catalog: Catalog) -> None:
    catalog.fuzzy = False  # the header: a fuzzy one is left out of the .mo, charset and all
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True, omit_header=False,
                 include_lineno=False)
    with MO.open("wb") as handle:
        write_mo(handle, catalog)


def update() -> Catalog:
    catalog = load_po()
    catalog.update(template(), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    save(catalog)
    return catalog


def untranslated(catalog: Catalog) -> list[str]:
    """Singular ids (Chinese has one plural form, so one string answers a plural message)."""
    return [_singular(m.id) for m in catalog if m.id and (not all(_strings(m)) or m.fuzzy)]


def _singular(msgid: str | tuple[str, ...] | list[str]) -> str:
    return msgid[0] if isinstance(msgid, tuple | list) else msgid


def _strings(message: Message) -> tuple[str, ...]:
    string = message.string
    return tuple(string) if isinstance(string, tuple | list) else (string,)


def fill(path: Path) -> int:
    catalog = update()
    added = 0
    for msgid, msgstr in json.loads(path.read_text(encoding="utf-8")).items():
        message = catalog.get(msgid)
        if message is not None and msgstr:
            message.string = (msgstr,) if message.pluralizable else msgstr
            message.flags.discard("fuzzy")
            added += 1
    save(catalog)
    return added


def problems() -> list[str]:
    """What keeps the catalogue from shipping: ids without Chinese, translations whose
    placeholders differ from their msgid's, a stale .mo."""
    catalog = load_po()
    known = {m.id for m in catalog if m.id}
    out = [f"not in {PO.name}: {m.id!r}" for m in template() if m.id and m.id not in known]
    out += [f"untranslated: {msgid!r}" for msgid in untranslated(catalog)]
    out += [problem for m in catalog if m.id for problem in placeholder_problems(m)]
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    if not MO.exists() or _entries(compiled.getvalue()) != _entries(MO.read_bytes()):
        out.append(f"{MO.name} is stale: run python tools/catalogue.py update")
    return out


def placeholder_problems(message: Message) -> list[str]:
    """A translation must name exactly the `{placeholders}` of its msgid: a missing one drops
    a value from what people read, an extra or misspelt one is a KeyError when `.format` runs.
    For a plural message the plural form's placeholders count (Chinese has one form, used for
    every number). Conversions and format specs (`!r`, `:g`) may differ, names may not."""
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    want = placeholders(ids[-1])
    out = []
    for text in _strings(message):
        if not text:
            continue
        got = placeholders(text)
        if got is None or want is None:
            out.append(f"placeholders: {ids[0]!r}: not a valid format string")
        elif got != want:
            missing, extra = sorted(want - got), sorted(got - want)
            out.append(f"placeholders: {ids[0]!r}: translation "
                       + "; ".join(([f"lacks {missing}"] if missing else [])
                                   + ([f"adds {extra}"] if extra else [])))
    return out


def placeholders(text: str) -> set[str] | None:
    """The field names `str.format` would look up in `text` (None when it cannot parse)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def _entries(data: bytes) -> dict[object, object]:
    return {_singular(m.id): _strings(m) for m in read_mo(io.BytesIO(data)) if m.id}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        missing = untranslated(update())
        print(f"{PO.relative_to(ROOT)}: {len(missing)} untranslated")
    elif command == "untranslated":
        print(json.dumps({m: "" for m in untranslated(load_po())}, ensure_ascii=False, indent=1))
    elif command == "fill":
        print(f"{fill(Path(argv[1]))} translations added")
    elif command == "check":
        found = problems()
        print("\n".join(found) or "catalogue complete")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

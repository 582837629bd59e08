"""Every command in both languages, through the real CLI: its `--help` under `--lang zh` is
Chinese (none of our English help texts, none of click's headings left), under `--lang en`
English (Chinese only as labels inside English sentences), and one usual error of each command
says what went wrong in Chinese under zh, with the exit code it has in English."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from rectify.cli import cli
from rectify.engine.core.i18n import current_language, use_language

from .cli_inprocess import Rectify
from .conftest import FIXTURES

CJK = re.compile(r"[\u4e00-\u9fff]")


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command (not group) in the tree."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def own_help(path: tuple[str, ...]) -> list[str]:
    """The English help texts (their first line) the command and its options were declared
    with: none of them may show under zh."""
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    texts = [getattr(command, "_msgid_help", None)] + [
        getattr(p, "_msgid_help", None) for p in command.params
        if isinstance(p, click.Option) and not p.hidden]
    return [t.splitlines()[0][:50] for t in texts if t]


# One usual mistake per command (an unknown id, a bad file, a bad value, a wrong option).
BROKEN = str(FIXTURES / "broken" / "bad_duration.yaml")
ORG = str(FIXTURES / "org.yaml")
ERRORS: dict[tuple[str, ...], list[str]] = {
    ("workflow", "validate"): [BROKEN],
    ("workflow", "load"): [BROKEN],
    ("workflow", "list"): ["--bogus"],
    ("workflow", "show"): ["nosuch"],
    ("workflow", "graph"): ["nosuch"],
    ("workflow", "migrate"): ["rectification", "--to", "9"],
    ("workflow", "diff"): ["rectification", "1", "9"],
    ("org", "load"): [BROKEN],
    ("calendar", "load"): [ORG],
    ("item", "new"): ["--workflow", "rectification", "--unit", "nosuch"],
    ("item", "list"): ["--unit", "nosuch"],
    ("item", "show"): ["999"],
    ("item", "advance"): ["999", "submit"],
    ("item", "assign"): ["999", "zhang"],
    ("item", "bulk"): ["submit", "--state", "nosuch"],
    ("item", "import"): [ORG, "--workflow", "rectification"],
    ("item", "extend"): ["999", "--to", "2025-12-01", "--reason", "x"],
    ("item", "extension"): ["999", "grant"],
    ("item", "transfer"): ["999", "--unit", "village-a2", "--comment", "x"],
    ("item", "urge"): ["999", "--comment", "x"],
    ("item", "sample"): ["--size", "1", "--seed", "s", "--unit", "nosuch"],
    ("outbox", "list"): ["--status", "nosuch"],
    ("outbox", "dispatch"): ["--bogus"],
    ("outbox", "retry"): ["999"],
    ("audit", "verify"): ["--anchor", "/nonexistent.json"],
    ("audit", "anchor"): ["-o", "/nonexistent/folder/anchor.json"],
    ("audit", "log"): ["--bogus"],
    ("ledger", "export"): ["--workflow", "nosuch", "-o", "ledger.xlsx"],
    ("report", "weekly"): ["--week", "2025-W99"],
    ("user", "password"): ["nosuch"],
    ("token", "create"): ["nosuch"],
    ("token", "revoke"): ["nosuch"],
    ("init",): ["--bogus"],
    ("demo",): ["--dir", "/proc/rectify-demo"],
    ("sweep",): ["--bogus"],
    ("scheduler",): ["--bogus"],
    ("serve",): ["--port", "nope"],
    ("print", "notice"): ["999"],
    ("print", "publicity"): ["--workflow", "nosuch", "--state", "x"],
}


@pytest.fixture
def rectify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Rectify]:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    before = current_language()
    cli_ = Rectify(f"sqlite:///{tmp_path / 'rectify.db'}", capsys, monkeypatch,
                   now="2025-09-26T10:00:00+08:00")
    cli_.ok("init")
    cli_.ok("org", "load", ORG)
    yield cli_
    use_language(before)


def test_every_command_has_a_usual_error_listed() -> None:
    """The table below covers the whole tree: a new command needs its usual error here."""
    assert set(commands()) == set(ERRORS)


def test_every_help_in_chinese_and_in_english(rectify: Rectify) -> None:
    """`--help` of every command: Chinese under zh (no English help text of ours, no click
    heading), English under en (a line with Chinese in it is an English sentence quoting a
    label or term); the exit code is 0 in both."""
    wrong = []
    for path in commands():
        zh = rectify("--lang", "zh", *path, "--help")
        en = rectify("--lang", "en", *path, "--help")
        left = [text for text in own_help(path) if text in zh.out]
        left += [w for w in ("Usage:", "Options:", "Show this message", "[required]", "default:")
                 if w in zh.out]
        if (zh.code, en.code) != (0, 0) or not CJK.search(zh.out) or left:
            wrong.append(f"zh {' '.join(path)}: {left or zh.err}")
        chinese = [line for line in en.out.splitlines()
                   if CJK.search(line) and not re.search(r"[A-Za-z]{3,}", line)]
        if "Usage:" not in en.out or chinese:
            wrong.append(f"en {' '.join(path)}: {chinese}")
    assert wrong == [], "\n".join(wrong)


def test_every_command_errs_in_chinese_with_the_english_exit_code(
        rectify: Rectify, monkeypatch: pytest.MonkeyPatch) -> None:
    """One usual error per command: the same non-zero exit code in both languages; under zh
    its message is Chinese (the last line click prints, or each line of ours) and no English
    word of ours is left once file paths, quoted values and the command line are set aside;
    our own errors are one line per problem, never a traceback."""
    wrong = []
    for path, args in ERRORS.items():
        monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
        zh = rectify("--lang", "zh", *path, *args, actor="qian")
        monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
        en = rectify("--lang", "en", *path, *args, actor="qian")
        lines = [line for line in zh.err.splitlines() if line.strip()]
        said = lines[-1] if zh.code == 2 and lines and "Usage" not in lines[-1] else "\n".join(
            lines)
        english = _english_words(said, path, args)
        if zh.code != en.code or zh.code == 0 or not CJK.search(said) or english \
                or "Traceback" in zh.err + en.err:
            wrong.append(f"{' '.join(path)}: {zh.code}/{en.code} {english} {zh.err!r}")
    assert wrong == [], "\n".join(wrong)


def _english_words(text: str, path: tuple[str, ...], args: list[str]) -> set[str]:
    text = re.sub(r"'[^']*'|\"[^\"]*\"|“[^”]*”|\S*/\S*|--[\w-]+", "", text)
    words = set(re.findall(r"[A-Za-z]{3,}", text))
    return words - set(path) - set(args) - KEYWORDS


# What stays in Latin letters in Chinese: the program, YAML keys and values as written in the
# files, file formats, and a status as `outbox list --status` takes it.
KEYWORDS = {"rectify", "ISO", "help", "workdays", "days", "hours", "deadline", "units", "people",
            "years", "yaml", "xlsx", "xls", "ods", "csv", "Excel", "OpenDocument", "failed"}


def test_progress_lines_follow_the_language(capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger import's progress bar (shown for a large file even off a terminal) is labelled
    in the chosen language: 导入台账 under zh, `importing ledger` under en."""
    from rectify.commands.ledger import LARGE, _Progress

    before = current_language()
    try:
        for language, label in (("zh", "导入台账"), ("en", "importing ledger")):
            use_language(language)
            with _Progress() as progress:
                progress("importing", LARGE, LARGE)
            assert label in capsys.readouterr().err
    finally:
        use_language(before)

"""Messages in Chinese and English: the catalogue is complete, every message can be extracted,
and the language follows `--lang`, then the locale, while JSON and exit codes never change."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rectify.commands.language import chosen_language
from rectify.engine.core.i18n import language_from_env

from tools import catalogue

from .cli_inprocess import Rectify

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for folder in ("engine", "commands", "notifications", "web")
           for p in (ROOT / folder).rglob("*.py")] + [ROOT / "cli.py"]


def test_catalogue_has_chinese_for_every_message() -> None:
    """No untranslated string ships: every message id extracted from the sources, the command
    tree's help and click's own messages has a Chinese translation, and the compiled .mo in the
    package is the .po as it stands (run `python tools/catalogue.py update` after editing)."""
    assert catalogue.problems() == []


def test_every_translated_message_is_a_literal() -> None:
    """`_()`, `N_()`, `later()` and `ngettext()` take string literals only: an f-string or a
    variable inside would be invisible to the extractor and ship untranslated. Values go in
    afterwards, with `.format(...)` (or as `later()`'s keywords)."""
    wrong = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"_", "N_", "later", "ngettext"}):
                literal = all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                              for a in node.args[:2 if node.func.id == "ngettext" else 1])
                if not literal:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert wrong == []


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"),
    ({"LANG": "C"}, "en"), ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),
])
def test_language_from_the_locale(env: dict[str, str], expected: str) -> None:
    """POSIX order: LC_ALL, then LC_MESSAGES, then LANG; Chinese when it starts with zh."""
    assert language_from_env(env) == expected


def test_lang_option_wins_over_the_locale_wherever_it_stands() -> None:
    """`--lang` overrides the locale, before or after the subcommand; anything after `--` is
    an argument, not an option."""
    zh = {"LANG": "zh_CN.UTF-8"}
    assert chosen_language(["--lang", "en", "item", "list"], zh) == "en"
    assert chosen_language(["item", "list", "--lang=en"], zh) == "en"
    assert chosen_language(["item", "new", "--", "--lang", "en"], zh) == "zh"
    assert chosen_language(["--lang", "zh"], {}) == "zh"


@pytest.fixture
def rectify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Rectify:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    cli = Rectify(f"sqlite:///{tmp_path / 'rectify.db'}", capsys, monkeypatch)
    cli.ok("init")
    return cli


def test_help_and_click_errors_follow_the_language(rectify: Rectify,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Help texts (ours and click's headings) and click's own errors come out in Chinese under
    `--lang zh` or a Chinese locale, in English otherwise; the exit code is the same."""
    assert "台账中的问题" in rectify("--lang", "zh", "item", "--help").out
    assert "Problems in the ledger" in rectify("item", "--help").out
    zh = rectify("--lang", "zh", "item", "lis")
    en = rectify("item", "lis")
    assert (zh.code, en.code) == (2, 2)
    assert "没有命令" in zh.err and "No such command" in en.err
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "用法" in rectify("item", "--help").out
    assert "Usage:" in rectify("--lang", "en", "item", "--help").out


def test_json_does_not_change_with_the_language(rectify: Rectify) -> None:
    """Scripts read the same bytes whatever the language: `--json` output is identical."""
    zh = rectify.ok("--lang", "zh", "workflow", "list", as_json=True).out
    en = rectify.ok("--lang", "en", "workflow", "list", as_json=True).out
    assert zh == en and zh.strip().startswith("[")


def test_check_names_translations_whose_placeholders_differ() -> None:
    """`catalogue.py check` fails a translation that drops or adds a `{name}` (a value lost
    from the sentence, or a KeyError when `.format` runs); a conversion such as `!r` may
    differ, and a plural message is held to its plural form's names."""
    from babel.messages.catalog import Message

    fine = Message("item {item}: {reason}", "事项 {item}：{reason}")
    assert catalogue.placeholder_problems(fine) == []
    assert catalogue.placeholder_problems(Message("got {value!r}", "实际为 {value}")) == []
    lacks = catalogue.placeholder_problems(Message("item {item}: {reason}", "事项 {item}"))
    adds = catalogue.placeholder_problems(Message("item {item}", "事项 {item}：{value2}"))
    assert len(lacks) == 1 and "lacks ['reason']" in lacks[0]
    assert len(adds) == 1 and "adds ['value2']" in adds[0]
    plural = Message(("{value!r} is not {choice}.", "{value!r} is not one of {choices}."),
                     ("{value!r} 不是 {choices} 之一。",))
    assert catalogue.placeholder_problems(plural) == []


def test_a_language_for_a_while_stays_in_its_own_thread() -> None:
    """A server thread that renders a Chinese page (`in_language("zh")`) changes no other
    thread's language, and leaves none behind — before, the language was one global: API
    answers made meanwhile came out Chinese, and interleaved pages could leave the whole
    server answering Chinese for good (seen: 407 of 450 API refusals during page views)."""
    import threading

    from rectify.engine.core.i18n import _, current_language, in_language, use_language

    use_language("en")
    inside, done = threading.Event(), threading.Event()
    seen: list[str] = []

    def page() -> None:
        with in_language("zh"):
            seen.append(_("nobody yet"))
            inside.set()
            done.wait(10)

    worker = threading.Thread(target=page)
    worker.start()
    assert inside.wait(10)
    try:
        assert current_language() == "en" and _("nobody yet") == "nobody yet"
    finally:
        done.set()
        worker.join()
    assert seen[0] != "nobody yet" and current_language() == "en"

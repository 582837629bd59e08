"""Hypothesis: arbitrary text in every `--field`, `--comment` and ledger cell is stored or
refused in one line, never a traceback (bounded examples; one SQLite file per module)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rectify.engine.core.clock import FixedClock

from ..cli_inprocess import Rectify, Result, prepared_service, write_csv
from ..conftest import START

NOW = "2025-09-26T10:00+08:00"
# What argv and a CSV cell can carry: any Unicode text but NUL (no OS passes it in argv).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=300)
SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("arbitrary")
    url = f"sqlite:///{folder / 'rectify.db'}"
    prepared_service(url, FixedClock(START), folder / "files").engine.dispose()
    return url


@pytest.fixture
def cli(database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    return Rectify(database, capsys, monkeypatch, now=NOW)


def _clean(result: Result) -> None:
    assert "Traceback" not in result.err, result.err
    assert result.code in (0, 2, 3, 4, 5, 6), result
    assert result.code == 0 or len(result.err.strip().splitlines()) >= 1


@SETTINGS
@given(text=TEXT)
def test_any_field_and_comment_text(cli: Rectify, text: str) -> None:
    """Any text as a field on `item new` and `item advance`, and as the comment, then shown."""
    new = cli("item", "new", "--workflow", "rectification", "--unit", "village-a1",
              "--field", f"description={text}", actor="li")
    _clean(new)
    if new.code != 0:
        return
    item = new.out.strip()
    _clean(cli("item", "advance", item, "assign", "--comment", text, "--field",
               f"measures={text}", actor="wang"))
    _clean(cli("item", "show", item, actor="wang"))


@SETTINGS
@given(cells=st.lists(TEXT, min_size=3, max_size=3))
def test_any_ledger_cell_text(cli: Rectify, tmp_path_factory: pytest.TempPathFactory,
                              cells: list[str]) -> None:
    """Any text in a ledger's 问题描述, 村 and 整改时限 cells imports or is a listed row error."""
    path = tmp_path_factory.mktemp("ledger") / "l.csv"
    write_csv(path, [["乡镇", "村", "问题描述", "整改时限"], ["大杨集镇", *cells]])
    _clean(cli("item", "import", str(path), "--workflow", "rectification", actor="li"))


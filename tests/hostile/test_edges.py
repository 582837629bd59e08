"""Numbers at the edges (engine/core/clock.py `check_year`, spec.py duration maxima, the CLI's
item id range and past-deadline check): each is one line and exit 2 or 6, never an
OverflowError at the first sweep or assign."""

from __future__ import annotations

from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.loader import load_workflow

from ..cli_inprocess import Rectify, prepared_service, write_csv
from ..conftest import START

NOW = "2025-09-26T10:00+08:00"
BASE = (Path(__file__).parents[1] / "fixtures" / "broken" / "_valid_base.yaml").read_text("utf-8")
NEW = ("item", "new", "--workflow", "rectification", "--unit", "village-a1",
       "--field", "description=户籍信息与实际不符")


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "files").engine.dispose()
    return Rectify(url, capsys, monkeypatch)


def _one_line(result: object, code: int) -> None:
    assert result.code == code, result  # type: ignore[attr-defined]
    err = result.err  # type: ignore[attr-defined]
    assert "Traceback" not in err and "OverflowError" not in err, err


@pytest.mark.parametrize(("args", "now", "fragment"), [
    ((*NEW, "--due", "9999-12-31"), NOW, "--due '9999-12-31'"),
    (NEW, "0001-01-01T00:00+14:00", "outside the years"),
    (("item", "show", "99999999999999999999"), NOW, "99999999999999999999"),
    (("item", "advance", "99999999999999999999", "assign"), NOW, "99999999999999999999"),
    ((*NEW, "--due", "2020-01-01"), NOW, "--due 2020-01-01 is in the past"),
])
def test_edges_on_the_command_line_are_usage_errors(cli: Rectify, args: tuple[str, ...],
                                                    now: str, fragment: str) -> None:
    """A far future or far past time, a 20-digit item id, a deadline already past: exit 2 with
    a message naming the value."""
    result = cli(*args, actor="li", now=now)
    _one_line(result, 2)
    assert fragment in result.err


def test_past_deadline_on_assign_is_refused(cli: Rectify) -> None:
    """`item assign --due` with a day already gone is exit 2; a later day is accepted, and a
    sweep far in the future then runs without overflow."""
    item = cli.ok(*NEW, actor="li", now=NOW).out.strip()
    result = cli("item", "assign", item, "zhang", "--due", "2025-09-01", "--comment", "改期",
                 actor="wang", now=NOW)
    _one_line(result, 2)
    assert "in the past" in result.err
    cli.ok("item", "assign", item, "zhang", "--due", "2999-12-31", "--comment", "改期",
           actor="wang", now=NOW)
    cli.ok("sweep", now="2999-12-31T23:00+08:00")


def test_huge_durations_fail_validation() -> None:
    """`99999999999999999999999 workdays` and ten thousand years of days are exit 6 at their
    line, not an OverflowError when the first item enters the state."""
    for duration in ("99999999999999999999999 workdays", "3000000 days", "-900000 hours"):
        text = BASE.replace("deadline: 10 workdays", f"deadline: {duration}")
        with pytest.raises(InvalidInput, match=r"mini\.yaml:\d+:\d+: .*longer than"):
            load_workflow(text, "mini.yaml", templates=frozenset({"reminder", "overdue"}))


def test_imported_far_deadline_is_a_row_error(cli: Rectify, tmp_path: Path) -> None:
    """A 整改时限 of 9999-12-31 in a ledger is an error naming its row; nothing imported."""
    ledger = write_csv(tmp_path / "l.csv", [["问题编号", "乡镇", "村", "问题描述", "整改时限"],
                                            ["A-1", "大杨集镇", "张庄村", "描述", "9999-12-31"]])
    result = cli("item", "import", str(ledger), "--workflow", "rectification", actor="li",
                 now=NOW)
    _one_line(result, 6)
    assert "row 2" in result.err and "9999-12-31" in result.err

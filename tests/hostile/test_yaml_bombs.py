"""YAML bombs (engine/core/yamlnodes.py `compose`, shared by every reader): an alias cycle,
billion laughs and deep nesting are exit 6 with FILE:LINE in `workflow validate`, `org load`,
`calendar load` and `item import --mapping`, in well under a second, instead of looping for ever
or printing a RecursionError traceback."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import InvalidInput
from rectify.engine.core.yamlnodes import compose

from ..cli_inprocess import Rectify, prepared_service, write_csv
from ..conftest import START

Within = Callable[[float], AbstractContextManager[None]]

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True))
BOMBS = {
    "cycle": ("a: &a [*a]\n", 1),
    "laughs": (LAUGHS, 5),
    "deep": ("a: " + "[" * 1000 + "]" * 1000 + "\n", 1),
    "deep_mapping": ("".join("  " * i + f"k{i}:\n" for i in range(400)), 101),
}


@pytest.mark.parametrize("name", BOMBS)
def test_compose_refuses_bombs_with_their_line(name: str, within: Within) -> None:
    """The shared reader refuses each bomb at a line of the file, within seconds."""
    text, line = BOMBS[name]
    with within(5), pytest.raises(InvalidInput) as info:
        compose(text, "bomb.yaml")
    assert str(info.value).startswith(f"bomb.yaml:{line}:"), str(info.value)


def test_aliases_in_honest_files_still_load() -> None:
    """Anchors reused a few times (shared role lists, say) are fine."""
    root = compose("r: &r [a, b]\nx: *r\ny: *r\nz: {k: *r}\n", "ok.yaml")
    assert root is not None


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One prepared SQLite file for the module: every command here is refused, none writes."""
    folder = tmp_path_factory.mktemp("bombs")
    url = f"sqlite:///{folder / 'rectify.db'}"
    prepared_service(url, FixedClock(START), folder / "files").engine.dispose()
    return url


@pytest.fixture
def cli(database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    return Rectify(database, capsys, monkeypatch, now="2025-09-26T10:00+08:00")


@pytest.mark.parametrize("name", ["cycle", "laughs", "deep"])
@pytest.mark.parametrize("reader", ["workflow", "org", "calendar", "mapping"])
def test_every_reader_refuses_bombs_with_exit_6(cli: Rectify, tmp_path: Path, reader: str,
                                                name: str, within: Within) -> None:
    """Each of the four YAML readers answers a bomb with one `FILE:LINE` line and exit 6."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMBS[name][0], "utf-8")
    args = {
        "workflow": ["workflow", "validate", str(bomb)],
        "org": ["org", "load", str(bomb)],
        "calendar": ["calendar", "load", str(bomb)],
        "mapping": ["item", "import", str(write_csv(tmp_path / "l.csv", [["问题描述"], ["x"]])),
                    "--workflow", "rectification", "--mapping", str(bomb)],
    }[reader]
    with within(10):
        result = cli(*args, actor="li")
    assert result.code == 6, result
    assert "bomb.yaml:" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err

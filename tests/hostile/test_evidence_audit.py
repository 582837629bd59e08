"""`audit verify` checks the evidence files themselves (engine/app/integrity.py `_Evidence`):
a stored attachment deleted or replaced on disk breaks its item, exit 7, though the database
was not touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from rectify.engine.core.clock import FixedClock

from ..cli_inprocess import Rectify, prepared_service
from ..conftest import START

NOW = "2025-09-26T10:00+08:00"


@pytest.mark.parametrize("damage", ["delete", "replace"])
def test_damaged_evidence_file_fails_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """Before the damage `audit verify` passes; after it, the item is named with the file."""
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    prepared_service(url, FixedClock(START), tmp_path / "rectify-files").engine.dispose()
    cli = Rectify(url, capsys, monkeypatch, now=NOW)
    photo = tmp_path / "整改照片.jpg"
    photo.write_bytes(b"\xff\xd8 a photo of the repaired roof")
    cli.ok("item", "new", "--workflow", "rectification", "--unit", "village-a1", "--field",
           "description=屋顶漏雨", actor="li")
    cli.ok("item", "advance", "1", "fix_on_spot", "--field", "measures=已修缮",
           "--attach", str(photo), actor="li")
    cli.ok("audit", "verify")
    [stored] = [p for p in (tmp_path / "rectify-files").rglob("*") if p.is_file()]
    if damage == "delete":
        stored.unlink()
    else:
        stored.write_bytes(b"\xff\xd8 a different photo")
    result = cli("audit", "verify")
    assert result.code == 7, result
    assert "item 1: attachment 整改照片.jpg" in result.err + result.out
    assert ("missing" if damage == "delete" else "replaced") in result.err + result.out

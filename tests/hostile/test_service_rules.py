"""Issue 18's rules that lived only in the CLI, or nowhere, now held by the service itself, so
the web and the API cannot step round them: a refused advance copies no attachment into the
evidence store; a past deadline is refused by `Service.new_item` and `Service.assign`; a
PostgreSQL database needs RECTIFY_FILES; `item show` prints private fields only to people
holding a role at the item's unit or above."""

from __future__ import annotations

from pathlib import Path

import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.errors import Refused, UsageError
from rectify.engine.store.db import open_engine

from ..cli_inprocess import Rectify, prepared_service
from ..conftest import START


def _stored(files: Path) -> list[Path]:
    return [p for p in files.rglob("*") if p.is_file()] if files.exists() else []


def test_refused_advance_copies_no_attachment(service: Service, tmp_path: Path) -> None:
    """An advance refused for its role, its state or its missing comment leaves the evidence
    store empty: the decision is taken before a byte is copied (today the file was copied
    first and left behind). The same file is stored once the advance is allowed."""
    item = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                            values={"description": "户籍信息与实际不符"})
    service.advance(item, "li", "assign")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8" + b"x" * 50_000)
    refusals = [("wang", "submit", {"measures": "已更正"}),   # not the assignee's role
                ("zhang", "accept", {}),                        # not a trigger of 整改中
                ("zhao", "submit", {"measures": "已更正"})]     # no role at all there
    for actor, trigger, values in refusals:
        with pytest.raises(Refused):
            service.advance(item, actor, trigger, values=values, attach=[photo])
        assert _stored(service.files_dir) == [], (actor, trigger)
    service.advance(item, "zhang", "submit", values={"measures": "已更正"}, attach=[photo])
    assert len(_stored(service.files_dir)) == 1


def test_past_deadline_refused_by_the_service(service: Service) -> None:
    """`Service.new_item(due=…)` and `Service.assign(due=…)` refuse a day already over in the
    workflow's timezone (the web and the API call these, not the CLI's check); today's date
    is still accepted, as the end of today."""
    with pytest.raises(UsageError, match="in the past"):
        service.new_item("li", "rectification", "village-a1", due="2025-09-25",
                         values={"description": "描述"})
    item = service.new_item("li", "rectification", "village-a1", due="2025-09-26",
                            values={"description": "描述"})
    with pytest.raises(UsageError, match="--due 2025-09-01 is in the past"):
        service.assign(item, "wang", "zhang", "2025-09-01", comment="改期")
    service.assign(item, "wang", "zhang", "2025-10-31", comment="改期")


@pytest.mark.postgres
def test_postgres_needs_rectify_files(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL an evidence store is not silently the current folder: attaching without
    RECTIFY_FILES is one usage error naming it, and nothing lands in the working directory."""
    prepared_service(pg_url, FixedClock(START), tmp_path / "files").engine.dispose()
    service = Service(open_engine(pg_url), FixedClock(START))  # no files_dir: RECTIFY_FILES unset
    item = service.new_item("li", "rectification", "village-a1", assignee="zhang",
                            values={"description": "描述"})
    service.advance(item, "li", "assign")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"evidence")
    with pytest.raises(UsageError, match="RECTIFY_FILES"):
        service.advance(item, "zhang", "submit", values={"measures": "已更正"}, attach=[photo])
    assert not (Path.cwd() / "rectify-files").exists()
    service.engine.dispose()


def test_sqlite_keeps_its_files_beside_the_database(tmp_path: Path) -> None:
    """SQLite without RECTIFY_FILES: the store lies beside the database file, as before."""
    service = Service(open_engine(f"sqlite:///{tmp_path / 'r.db'}"), FixedClock(START))
    assert service.files_dir == tmp_path / "rectify-files"
    service.engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Rectify:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    service = prepared_service(url, FixedClock(START), tmp_path / "files",
                               workflows=("identification",))
    org = tmp_path / "org.yaml"
    org.write_text((Path(__file__).parents[1] / "fixtures" / "org.yaml").read_text("utf-8")
                   .replace("roles: {leader: town-a}", "roles: {village_cadre: village-a1}")
                   .replace("roles: {rectifier: village-b1}",
                            "roles: {village_cadre: village-b1}"), "utf-8")
    service.load_org(org)
    service.engine.dispose()
    return Rectify(url, capsys, monkeypatch, now="2025-09-26T10:00+08:00")


def test_item_show_hides_private_fields_from_other_units(cli: Rectify) -> None:
    """`item show` of a household's application: its 身份证号码 and 联系电话 are printed to a
    cadre of its village, and shown only as (private) to a cadre of another village and to
    someone giving no --as; the JSON leaves the values out and names the hidden fields."""
    item = cli.ok("item", "new", "--workflow", "identification", "--unit", "village-a1",
                  "--field", "applicant_name=王大山", "--field", "household_size=4",
                  "--field", "id_number=370000199001011234", "--field", "phone=13912345678",
                  actor="wang").out.strip()
    own = cli.ok("item", "show", item, actor="wang").out
    assert "370000199001011234" in own and "13912345678" in own
    for actor in ("zhou", None):
        shown = cli.ok("item", "show", item, actor=actor).out
        assert "370000199001011234" not in shown and "13912345678" not in shown, actor
        assert "(private)" in shown and "王大山" in shown
        data = cli.ok("item", "show", item, actor=actor, as_json=True).json()
        assert "id_number" not in data["fields"] and "phone" not in data["fields"]
        assert set(data["hidden_fields"]) == {"id_number", "phone"}

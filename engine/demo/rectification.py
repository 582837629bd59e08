"""`rectify demo`: a guided run of the whole cycle on a fresh SQLite file, at a simulated clock.

A sample county (townships, villages, three dozen people), a few dozen problems with realistic
descriptions, walked through assignment, a refusal, a rejection, acceptance, and — jumping the
clock — reminders, 督办, 约谈 and an automatic move to accountability; then households through
identification, where a public notice passes by itself (`demo_identification.py`).
Notifications go to a file channel beside the database, and the demo prints what was sent.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from ...workflows import bundled_files
from ..app.names import Names
from ..app.service import Service
from ..core.clock import FixedClock
from ..core.errors import Refused
from ..core.i18n import _
from ..core.spec import WorkflowSpec
from ..store.db import open_engine, read, upgrade

Echo = Callable[[str], None]

COUNTY = "某县"
TOWNS = [("town-dy", "大杨集镇", ["张庄村", "李庄村", "王楼村"]),
         ("town-cg", "城关镇", ["东关村", "西关村", "南关村"]),
         ("town-hq", "河桥乡", ["前河村", "后河村"])]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢"
PROBLEMS = [
    ("信息不实", "户籍人口与公安户籍信息不一致，家庭成员数量有误"),
    ("填写不完整", "帮扶手册收入测算表未填写转移性收入"),
    ("逻辑关系错误", "家庭人均纯收入与收入明细合计不符"),
    ("致贫原因不清", "致贫原因填写为“其他”，未说明具体情况"),
    ("帮扶措施不明显", "帮扶措施与致贫原因不对应，未落实产业帮扶"),
    ("信息不实", "住房安全鉴定等级与实际居住情况不符"),
    ("填写不完整", "医疗保障参保信息缺失，缺少大病救助记录"),
    ("其他", "驻村工作队员不在岗，考勤记录不全"),
    ("信息不实", "义务教育阶段学生就学状态未及时更新"),
    ("填写不完整", "饮水安全情况未核实，缺少入户核查记录"),
]


def sample_org() -> str:
    """The demo county as an org file: a leader and acceptor per town, staff per village, and
    the people 四议两公开 needs (a county approver, a township reviewer per town, a party
    secretary and a work-team member per village; the village's rectifier is also a cadre)."""
    names = iter(f"{s}{g}" for s in SURNAMES for g in "明华强军芳")
    units, people, n = [], [], 0

    def person(roles: dict[str, str], email: bool = True) -> None:
        nonlocal n
        n += 1
        pid = f"p{n:02d}"
        people.append({"id": pid, "name": next(names), "roles": roles,
                       **({"email": f"{pid}@example.gov.cn"} if email else {})})

    person({"leader": "county", "inspector": "county"})
    for town_id, town, villages in TOWNS:
        children = [{"id": f"{town_id}-v{i + 1}", "name": v} for i, v in enumerate(villages)]
        units.append({"id": town_id, "name": town, "children": children})
        person({"leader": town_id})
        person({"inspector": town_id})
        person({"acceptor": town_id})
        for child in children:
            person({"rectifier": child["id"], "village_cadre": child["id"]})
    # Appended after the rest, so the ids above (p01..p18) stay what `_Walk` computes.
    person({"county_approver": "county"})
    for town_id, _town, villages in TOWNS:
        person({"township_reviewer": town_id})
        for i in range(len(villages)):
            person({"party_secretary": f"{town_id}-v{i + 1}"})
            person({"work_team": f"{town_id}-v{i + 1}"})
    org = {"units": [{"id": "county", "name": COUNTY, "children": units}], "people": people}
    return json.dumps(org, ensure_ascii=False, indent=1)  # JSON is YAML


def run_demo(directory: Path | None, echo: Echo) -> Path:
    folder = Path(directory or tempfile.mkdtemp(prefix="rectify-demo-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "rectify.db"
    if db.exists():
        db.unlink()
    clock = FixedClock(datetime.fromisoformat("2025-09-22T09:00:00+08:00"))
    service = _setup(folder, db, clock, echo)
    demo = _Walk(service, clock, echo, random.Random(20250922))
    demo.run()
    report, ledger = _write_outputs(service, folder)
    echo("\n" + _("database: {path}").format(path=db))
    echo(_("notifications: {path}").format(path=folder / "notifications.jsonl"))
    echo(_("weekly report: {path}").format(path=report))
    echo(_("ledger export: {path}").format(path=ledger))
    names = demo.names
    echo(_("try:  {command}").format(
        command=f"rectify --db sqlite:///{db} --as {names.person_name('p02')} item list "
                f"--unit {names.unit_name('town-dy')}"))
    return db


def sample_ledger(path: Path) -> None:
    """An office's ledger as they keep it: a title row, 乡镇 and 村 columns, names, dates typed
    three ways, a remarks column rectify ignores."""
    from openpyxl import Workbook

    org = json.loads(sample_org())
    names = {p["id"]: p["name"] for p in org["people"]}
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["某县2025年第三季度督查问题整改台账"])
    sheet.append(["问题编号", "乡镇", "村", "责任人", "问题类别", "问题描述（必填）", "整改时限",
                  "备注"])
    for n in range(12):
        town_no = n % len(TOWNS)
        town_id, town, villages = TOWNS[town_no]
        number = n % len(villages) + 1
        category, text = PROBLEMS[(n * 3) % len(PROBLEMS)]
        due: object = [date(2025, 10, 31), "2025/11/7", "2025年11月14日"][n % 3]
        sheet.append([f"DC-2025-{n + 1:03d}", town, villages[number - 1],
                      names[_Walk._rectifier(f"{town_id}-v{number}")], category, text, due,
                      "交叉检查发现" if n % 4 == 0 else None])
    book.save(path)


def _write_outputs(service: Service, folder: Path) -> tuple[Path, Path]:
    """The weekly report (html) and the ledger export (xlsx), beside the database."""
    from ..app.ledger_export import ExportOptions, export_ledger
    from ..app.views import ItemFilter
    from ..reports.render import render_report
    from ..reports.weekly import build_weekly_report

    # Both are about the rectification cycle: the households being identified are no problems.
    report = build_weekly_report(service, workflow="rectification")
    report_path = folder / f"周报-{report.week}.html"
    render_report(report, "html", report_path)
    ledger_path = folder / "问题台账.xlsx"
    export_ledger(service, ledger_path, "xlsx", filters=ItemFilter(workflow="rectification"),
                  options=ExportOptions(force=True))
    return report_path, ledger_path


def _setup(folder: Path, db: Path, clock: FixedClock, echo: Echo) -> Service:
    from ...notifications.notices import Notices

    engine = open_engine(f"sqlite:///{db}")
    upgrade(engine)
    service = Service(engine, clock, notices=Notices({"file": None}),
                      files_dir=folder / "rectify-files")
    for path in bundled_files():
        service.load_workflow(path)
    org_file = folder / "org.yaml"
    org_file.write_text(sample_org(), "utf-8")
    service.load_org(org_file)
    echo(_("== The rectification cycle in {county}, a demo (database {db})").format(
        county=COUNTY, db=db))
    echo(_("   {towns} townships, {villages} villages; org file {path}").format(
        towns=len(TOWNS), villages=sum(len(v) for _id, _name, v in TOWNS), path=org_file))
    return service


class _Walk:
    def __init__(self, service: Service, clock: FixedClock, echo: Echo,
                 rng: random.Random) -> None:
        self.s, self.clock, self.echo, self.rng = service, clock, echo, rng
        self.items: list[tuple[int, str, str]] = []  # (id, village, rectifier)

    @cached_property
    def spec(self) -> WorkflowSpec:
        """The rectification workflow: its state and transition labels are what people read."""
        with read(self.s.engine) as conn:
            return self.s.latest(conn, "rectification").spec

    def state(self, state: str) -> str:
        return self.spec.state_label(state)

    def trigger(self, trigger: str) -> str:
        return next((t.label for t in self.spec.transitions
                     if t.trigger == trigger and t.label), trigger)

    @cached_property
    def names(self) -> Names:
        """Units and people by name: what the demo prints is what people read and type."""
        return Names.read(self.s)

    def run(self) -> None:
        self.discover()
        self.import_ledger()
        self.rectify()
        self.accept()
        self.time_passes()
        self.identification()
        self.notifications()

    def discover(self) -> None:
        self.echo("\n" + _("-- 1. Inspections find problems"))
        for index in range(30):
            town_no = index % len(TOWNS)
            town_id, _town, villages = TOWNS[town_no]
            village = f"{town_id}-v{index % len(villages) + 1}"
            inspector, rectifier = self._inspector(town_no), self._rectifier(village)
            category, text = self.rng.choice(PROBLEMS)
            item_id = self.s.new_item(inspector, "rectification", village,
                                      subject=f"household:HH-{1000 + index}",
                                      assignee=rectifier,
                                      values={"description": text, "category": category})
            self.s.advance(item_id, inspector, "assign")
            self.items.append((item_id, village, rectifier))
        self.echo(_("   {count} problems found and {assign}: {state}, due in 10 workdays").format(
            count=len(self.items), assign=self.trigger("assign"), state=self.state("rectifying")))
        item_id, village, _rectifier = self.items[0]
        self.echo(_("   for example item {item} at {unit}: see `rectify item show {item}`").format(
            item=item_id, unit=self.names.unit_name(village)))

    def import_ledger(self) -> None:
        from ..app.ledger_import import import_ledger

        path = self.s.files_dir.parent / "台账样例.xlsx"
        sample_ledger(path)
        result = import_ledger(self.s, path, "rectification", "p01")
        self.echo(_("   ledger import: {count} items from {file} (items {first}–{last}; "
                    "`rectify item import`)").format(count=result.created, file=path.name,
                                                     first=min(result.ids), last=max(result.ids)))

    def rectify(self) -> None:
        self.echo("\n" + _("-- 2. Rectification: {state}").format(state=self.state("rectifying")))
        self.clock.advance(days=3)
        item_id, _village, rectifier = self.items[0]
        other = self.items[1][2] if self.items[1][2] != rectifier else self.items[2][2]
        try:
            self.s.advance(item_id, other, "submit", values={"measures": "已整改"})
        except Refused as exc:
            self.echo(_("   refused: {person} tried to {trigger} item {item}: {reason}").format(
                person=self.names.person_name(other), trigger=self.trigger("submit"),
                item=item_id, reason=exc))
        evidence = self.s.files_dir.parent / "入户核实照片.jpg"
        evidence.write_bytes(b"demo evidence")
        for item_id, _village, rectifier in self.items[:18]:
            self.s.advance(item_id, rectifier, "submit", attach=[evidence],
                           values={"measures": "已入户核实并更正系统信息"})
        self.echo(_("   {count} problems {trigger}, with {evidence}").format(
            count=18, trigger=self.trigger("submit"),
            evidence=self.spec.field_label("evidence")))

    def accept(self) -> None:
        self.echo("\n" + _("-- 3. Acceptance: {state}").format(state=self.state("accepting")))
        self.clock.advance(days=1)
        rejected = self.items[0][0]
        acceptor = self._acceptor(self.items[0][1])
        self.s.advance(rejected, acceptor, "reject", comment="佐证材料不清晰，请补充入户照片")
        self.echo(_("   item {item}: {trigger}, back to {state}").format(
            item=rejected, trigger=self.trigger("reject"), state=self.state("rectifying")))
        for item_id, village, _rectifier in self.items[1:15]:
            self.s.advance(item_id, self._acceptor(village), "accept")
        self.echo(_("   {count} problems {trigger}: {state}, each by someone other than its "
                    "rectifier").format(count=14, trigger=self.trigger("accept"),
                                        state=self.state("closed")))

    def time_passes(self) -> None:
        from ..app.sweep import sweep

        self.echo("\n" + _("-- 4. The clock jumps forward; the sweep escalates"))
        for days in (7, 5, 4, 4, 5):
            self.clock.advance(timedelta(days=days))
            report = sweep(self.s)
            levels: dict[str, int] = {}
            for e in report.escalations:
                levels[e["level"] or e["action"]] = levels.get(e["level"] or e["action"], 0) + 1
            summary = _(", ").join(f"{k} ×{v}" for k, v in levels.items()) or _("nothing due")
            if report.fired:
                summary += _("; {trigger} by itself on {count} items").format(
                    trigger=self.trigger("hold_accountable"), count=len(report.fired))
            local = self.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
            self.echo(_("   {day}: {said}").format(day=local, said=summary))

    def identification(self) -> None:
        from .identification import IdentificationWalk, holders_of

        village = f"{TOWNS[0][0]}-v1"
        holders = holders_of(json.loads(sample_org())["people"])
        IdentificationWalk(self.s, self.clock, self.echo, village, TOWNS[0][2][0],
                           holders).run()

    def notifications(self) -> None:
        from ...notifications.dispatch import dispatch
        from ...notifications.settings import ChannelSettings, build_channels
        from ..settings import Settings
        from ..store.outbox import OutboxTable

        path = self.s.files_dir.parent / "notifications.jsonl"
        settings = Settings(channels={"file": ChannelSettings("file", "file",
                                                              {"path": str(path)})})
        report = dispatch(OutboxTable(self.s.engine), build_channels(settings),
                          self.clock.now(), limit=10_000)
        self.echo("\n" + _("-- 6. Notifications: {count} sent to {file}").format(
            count=report.sent, file=path.name))
        sent = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        for notice in sent[:4]:
            self.echo(f"   {notice['subject']}")
        for template in ("notice_start", "notice_end"):  # the households' public notices
            first = next((n for n in sent if n["template"] == template), None)
            if first:
                self.echo(f"   {first['subject']}")

    def _inspector(self, town_no: int) -> str:
        return f"p{3 + self._town_offset(town_no):02d}"

    def _acceptor(self, village: str) -> str:
        town_no = [t for t, *_ in TOWNS].index(village.rsplit("-v", 1)[0])
        return f"p{4 + self._town_offset(town_no):02d}"

    @staticmethod
    def _rectifier(village: str) -> str:
        town_id, number = village.rsplit("-v", 1)
        town_no = [t for t, *_ in TOWNS].index(town_id)
        return f"p{4 + _Walk._town_offset(town_no) + int(number):02d}"

    @staticmethod
    def _town_offset(town_no: int) -> int:
        return sum(3 + len(TOWNS[i][2]) for i in range(town_no))

"""`rectify demo`, part two: households through 四议两公开 to a public notice that passes by itself.

Three households apply at one village. The party branch proposes, the two village committees
consult, the party members' meeting and the villagers' representatives vote (one meeting is first
recorded without its quorum and refused), the resolution is disclosed and the work team verifies;
each household then enters 第一次公示, a seven-day notice. A villager objects to one, which goes
back to verification and starts a fresh notice; the clock jumps past the seven days and the sweep
passes the other two as the system actor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..app.service import Service
from ..core.clock import FixedClock
from ..core.errors import Refused
from ..core.i18n import _, ngettext
from ..core.machine import SYSTEM_ACTOR
from ..core.spec import WorkflowSpec
from ..store.db import read

Echo = Callable[[str], None]

WORKFLOW = "identification"
HOUSEHOLDS: list[tuple[str, dict[str, Any]]] = [
    ("HH-2001", {"applicant_name": "王德福", "id_number": "341221196503120011",
                 "household_size": 5, "risk_type": "因病",
                 "application": "户主患尿毒症，每周透析三次，医疗支出大，家庭收入骤减"}),
    ("HH-2002", {"applicant_name": "李桂兰", "id_number": "341221197108230042",
                 "household_size": 3, "risk_type": "因灾",
                 "application": "7月暴雨致房屋受损，秋粮绝收"}),
    ("HH-2003", {"applicant_name": "张玉珍", "id_number": "341221198002150027",
                 "household_size": 4, "risk_type": "因残",
                 "application": "丈夫二级肢体残疾丧失劳动能力，两个孩子在读"}),
]
INCOME = [5200, 6100, 4800]  # 家庭年人均纯收入 found by the verification, yuan
PARTY = {"party_members_total": 12, "party_attendees": 10, "party_votes_for": 9}
NO_QUORUM = {"party_members_total": 12, "party_attendees": 6, "party_votes_for": 6}
REPS = {"rep_total": 25, "rep_attendees": 21, "rep_votes_for": 19}
OBJECTION = "村民反映其家中有小轿车一辆，对纳入有异议"
RECHECK = "经入户核实，车辆登记在其女婿名下，不属本户财产，不影响认定"


class IdentificationWalk:
    """Walks the households; `holders` maps (role, unit) to (person id, name) from the org."""

    def __init__(self, service: Service, clock: FixedClock, echo: Echo, village: str,
                 village_name: str, holders: Mapping[tuple[str, str], tuple[str, str]]) -> None:
        self.s, self.clock, self.echo = service, clock, echo
        self.village, self.village_name = village, village_name
        self.cadre = holders[("village_cadre", village)]
        self.secretary = holders[("party_secretary", village)]
        self.team = holders[("work_team", village)]
        with read(service.engine) as conn:
            self.spec: WorkflowSpec = service.latest(conn, WORKFLOW).spec
        self.tz = ZoneInfo(self.spec.timezone)
        self.ids: list[int] = []

    def run(self) -> list[int]:
        self.echo("\n" + _("-- 5. {workflow}: a public notice passes by itself").format(
            workflow=self.spec.title))
        self.apply()
        self.deliberate()
        self.verify()
        self.objection()
        self.notice_ends()
        return self.ids

    def apply(self) -> None:
        for key, values in HOUSEHOLDS:
            self.ids.append(self.s.new_item(self.cadre[0], WORKFLOW, self.village,
                                            subject=f"household:{key}", values=values))
        who = _(", ").join(
            _("#{item} {name} ({risk}, {size} people)").format(
                item=i, name=v["applicant_name"], risk=v["risk_type"], size=v["household_size"])
            for i, (_key, v) in zip(self.ids, HOUSEHOLDS, strict=True))
        self.echo(_("   {day}: {count} households apply at {village}: {who}").format(
            day=self._day(), count=len(self.ids), village=self.village_name, who=who))

    def deliberate(self) -> None:
        secretary = self.secretary[0]
        for item_id in self.ids:
            self.s.advance(item_id, secretary, "propose")
            self.s.advance(item_id, secretary, "consult",
                           values={"consultation": "村“两委”联席会议商议，同意提交党员大会审议"})
        self.echo(_("   {day}: the four deliberations begin: {propose} by {person} ({role}), "
                    "{consult}").format(day=self._day(), propose=self._label("propose", None),
                                        person=self.secretary[1],
                                        role=self.spec.role_label("party_secretary"),
                                        consult=self._label("consult", None)))
        self.clock.advance(days=1)
        try:
            self.s.advance(self.ids[2], secretary, "approve", values=NO_QUORUM)
        except Refused as exc:
            # The guard's own message quotes its `when:` expression; say it in the meeting's terms.
            why = (_("the workflow's `when:` rule (a quorum of two thirds) says no; nothing "
                     "recorded") if exc.reason == "guard" else str(exc))
            self.echo(_("   refused: {trigger} for item {item} with {present} of {members} "
                        "party members present: {reason}").format(
                trigger=self._label("approve", "party_review"), item=self.ids[2],
                present=NO_QUORUM["party_attendees"],
                members=NO_QUORUM["party_members_total"], reason=why))
        for item_id in self.ids:
            self.s.advance(item_id, secretary, "approve", values=PARTY)
            self.s.advance(item_id, secretary, "approve", values=REPS)
        self.echo(_("   {day}: {party} ({present} of {members} present) and {reps} "
                    "({rep_present} of {rep_total}): all three pass").format(
            day=self._day(), party=self.spec.state_label("party_review"),
            present=PARTY["party_attendees"], members=PARTY["party_members_total"],
            reps=self.spec.state_label("rep_resolution"), rep_present=REPS["rep_attendees"],
            rep_total=REPS["rep_total"]))

    def verify(self) -> None:
        self.clock.advance(days=1)
        today = self.clock.now().astimezone(self.tz).date().isoformat()
        for item_id, income in zip(self.ids, INCOME, strict=True):
            self.s.advance(item_id, self.cadre[0], "disclose",
                           values={"resolution_disclosed_on": today})
            self.s.advance(item_id, self.team[0], "verify", values={
                "verification": "入户核实家庭人口、收入、住房与申请一致",
                "income_per_capita": income})
        detail = self._detail(self.ids[0])
        self.echo(_("   {day}: {disclose}, then {verify} by {person} ({role}); items "
                    "{first}–{last} enter {state}: 7 days, until {until}, passes unless "
                    "someone objects").format(
            day=today, disclose=self._label("disclose", None), verify=self._label("verify", None),
            person=self.team[1], role=self.spec.role_label("work_team"), first=self.ids[0],
            last=self.ids[-1], state=detail["state_label"], until=_minute(detail["due_at"])))

    def objection(self) -> None:
        self.clock.advance(days=4)
        self._sweep(_("nothing due: the notices are still running"))
        objected = self.ids[1]
        outcome = self.s.advance(objected, self.cadre[0], "object", comment=OBJECTION)
        self.echo(_("   {day}: objection to item {item} ({name}), recorded by {person} "
                    "({role}): “{comment}”").format(
            day=self._day(), item=objected, name=HOUSEHOLDS[1][1]["applicant_name"],
            person=self.cadre[1], role=self.spec.role_label("village_cadre"), comment=OBJECTION))
        self.echo(_("      → {trigger}: back to {state}; its notice will not pass by "
                    "itself").format(trigger=outcome.transition.label,
                                     state=self.spec.state_label(outcome.dest)))
        self.clock.advance(days=1)
        self.s.advance(objected, self.team[0], "verify", values={"verification": RECHECK})
        due = _minute(self._detail(objected)["due_at"])
        self.echo(_("   {day}: {verify} again by {person}: “{comment}”").format(
            day=self._day(), verify=self._label("verify", None), person=self.team[1],
            comment=RECHECK))
        self.echo(_("      → a fresh 7-day public notice for item {item}, until {until}").format(
            item=objected, until=due))

    def notice_ends(self) -> None:
        # The scheduler sweeps every few minutes: jump to just after the notice's last day.
        ends = datetime.fromisoformat(self._detail(self.ids[0])["due_at"])
        self.clock.set(ends.replace(second=0, microsecond=0) + timedelta(minutes=6))
        report = self._sweep(minute=True)
        first = self.ids[0]
        row = [h for h in self._detail(first)["history"] if h["kind"] == "transition"][-1]
        label = self._label(row["trigger"], row["source"])
        self.echo(_("   item {item} history: {at}  {actor}  {trigger}  {source} → {dest}   "
                    "(`rectify item show {item}`)").format(
            item=first, at=_minute(row["at"]), actor=row["actor_name"], trigger=label,
            source=self.spec.state_label(row["source"]), dest=self.spec.state_label(row["dest"])))
        objected = self._detail(self.ids[1])
        if all(f["item"] != self.ids[1] for f in report):
            self.echo(_("   item {item}: nothing fired; still {state} until {until}").format(
                item=self.ids[1], state=objected["state_label"],
                until=_minute(objected["due_at"])))

    def _sweep(self, quiet: str | None = None, minute: bool = False) -> list[dict[str, Any]]:
        """One sweep; says what it did to the households (and counts the rest in passing)."""
        from ..app.sweep import sweep

        report = sweep(self.s)
        when = self.clock.now().astimezone(self.tz).strftime("%Y-%m-%d %H:%M" if minute
                                                             else "%Y-%m-%d")
        mine = [e for e in report.escalations if e["item"] in self.ids]
        fired = [f for f in report.fired if f["item"] in self.ids]
        others = len(report.escalations) - len(mine)
        aside = ngettext("; also {count} escalation on rectification items",
                         "; also {count} escalations on rectification items",
                         others).format(count=others) if others else ""
        if not mine:
            self.echo(_("   {when}: sweep: {said}").format(
                when=when, said=(quiet or _("nothing due")) + aside))
            return fired
        levels = sorted({e["level"] or e["action"] for e in mine})
        said = _(", ").join(
            f"{level} ×{sum(1 for e in mine if (e['level'] or e['action']) == level)}"
            for level in levels)
        for trigger in sorted({f["trigger"] for f in fired}):
            done = [f for f in fired if f["trigger"] == trigger]
            dest = self.spec.state_label(done[0]["dest"])
            said += _("; {trigger} fired by the system (actor `{actor}`): items {items} → "
                      "{state}").format(trigger=self._label(trigger, None), actor=SYSTEM_ACTOR.id,
                                        items=_(", ").join(str(f["item"]) for f in done),
                                        state=dest)
        self.echo(_("   {when}: sweep: {said}").format(when=when, said=said + aside))
        return fired

    def _detail(self, item_id: int) -> dict[str, Any]:
        from ..app.views import item_detail

        return item_detail(self.s, item_id, None)

    def _label(self, trigger: str, source: str | None) -> str:
        found = [t for t in self.spec.transitions
                 if t.trigger == trigger and (source is None or source in t.sources)]
        return (found[0].label if found else None) or trigger

    def _day(self) -> str:
        return self.clock.now().astimezone(self.tz).date().isoformat()


def _minute(iso: str | None) -> str:
    """'2025-10-30T23:59:59+08:00' -> '2025-10-30 23:59'."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M") if iso else "—"


def holders_of(people: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(role, unit) -> (person id, name) of its first holder, from an org file's people."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for p in people:
        for role, unit in p["roles"].items():
            found.setdefault((role, unit), (p["id"], p["name"]))
    return found

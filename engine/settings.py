"""Settings (`rectify.toml`): scheduler times, report weights, lights, the web front door, and
where channels are.

The only module that reads the settings file. Loading checks shape and types and rejects
unknown tables and keys with the allowed list, every problem of the file in one run. The
`[channels]` tables are handed to `notifications/settings.py`, which owns the channel types,
their options and their secrets; this module knows only that the table exists.
tomllib reports no positions for values, so problems point at line 1 of the file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as TimeOfDay
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.errors import InvalidInput, Problem, SourceLoc
from .core.i18n import _, os_error_text

if TYPE_CHECKING:
    from ..notifications.settings import ChannelSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_COLORS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
DEFAULT_SOURCE = "<default settings>"
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_ISSUE_FIELDS = {"year", "week", "n"}
_ISO_WEEK = re.compile(r"^\d{4}-[Ww]\d{2}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TOML_POS = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)")


@dataclass(frozen=True)
class SchedulerSettings:
    sweep_minutes: int = 5
    digest_time: str = "19:00"  # daily digest (日清日结), local time of the workflow
    weekly: str = "fri 17:00"  # weekly report (每周通报)
    lease_seconds: int = 60

    @property
    def digest_at(self) -> TimeOfDay:
        return parse_hhmm(self.digest_time)

    @property
    def weekly_at(self) -> tuple[int, TimeOfDay]:
        """(weekday, time of day), Monday being 0 as in `datetime.weekday()`."""
        return parse_weekly(self.weekly)


@dataclass(frozen=True)
class ReportSettings:
    """`[report]`: the weekly report's score weights and what its head and red list show."""

    weights: Mapping[str, float] = field(default_factory=dict)  # free-form; the report names them
    office: str = ""  # 填报单位, the issuing office printed under the title
    issue_number: str = "{year}年第{week}期"  # 期号: {year}, {week} (ISO) or {n} from first_week
    first_week: str | None = None  # the ISO week of issue {n} = 1, e.g. "2025-W36"
    red_limit: int = 50  # red items listed; the rest are counted ("and M more")


@dataclass(frozen=True)
class LightsSettings:
    yellow_workdays: int = 2  # yellow when the deadline is this many workdays away or closer
    colors: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))


@dataclass(frozen=True)
class WebSettings:
    """`[web]`: the front door (`rectify serve`)."""

    base_url: str | None = None  # the public address, e.g. "https://rectify.example.gov.cn"
    upload_mb: int = 20  # the largest evidence file accepted, per file
    session_hours: int = 12  # a login lasts this long
    min_password: int = 10  # the shortest password `rectify user password` accepts

    @property
    def upload_bytes(self) -> int:
        return self.upload_mb * 1024 * 1024


def _default_channels() -> dict[str, ChannelSettings]:
    from ..notifications.settings import default_channels

    return default_channels()


@dataclass(frozen=True)
class Settings:
    channels: Mapping[str, ChannelSettings] = field(default_factory=_default_channels)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    lights: LightsSettings = field(default_factory=LightsSettings)
    web: WebSettings = field(default_factory=WebSettings)
    source: str = DEFAULT_SOURCE


def parse_hhmm(text: str) -> TimeOfDay:
    match = _HHMM.match(text.strip())
    if not match:
        raise ValueError(_("expected a time such as '19:00', got {value!r}").format(value=text))
    return TimeOfDay(int(match.group(1)), int(match.group(2)))


def parse_weekly(text: str) -> tuple[int, TimeOfDay]:
    day, _sep, hhmm = text.strip().lower().partition(" ")
    if day not in WEEKDAYS:
        raise ValueError(_("expected a day and a time such as 'fri 17:00', got {value!r}")
                         .format(value=text))
    return WEEKDAYS.index(day), parse_hhmm(hhmm)


class Findings:
    """Collects every problem of one file, so the admin sees all of them in one run."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def error(self, message: str, line: int = 1, column: int = 1) -> None:
        self.problems.append(Problem(SourceLoc(self.source, line, column), message))

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str] | frozenset[str],
                     where: str) -> None:
        for key in table:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                did_you_mean = _(" (did you mean '{name}'?)").format(name=hint[0]) if hint else ""
                listed = ", ".join(sorted(allowed)) or _("none")
                self.error(_("{where}: unknown key {key!r}{did_you_mean}; allowed: {listed}")
                           .format(where=where, key=key, did_you_mean=did_you_mean,
                                   listed=listed))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems, source=self.source)


def load_settings(path: Path | None) -> Settings:
    """Read and check the settings file; None means built-in defaults (one `log` channel)."""
    if path is None:
        return Settings()
    findings = Findings(str(path))
    raw = _read_toml(path, findings)
    findings.unknown_keys(raw, {"channels", "scheduler", "report", "lights", "web"}, "settings")
    channels = _channels(_table(raw, "channels", findings), path.parent, findings)
    settings = Settings(
        channels=channels or _default_channels(),
        scheduler=_scheduler(_table(raw, "scheduler", findings), findings),
        report=_report(_table(raw, "report", findings), findings),
        lights=_lights(_table(raw, "lights", findings), findings),
        web=_web(_table(raw, "web", findings), findings),
        source=str(path),
    )
    findings.raise_if_any()
    return settings


def _channels(raw: dict[str, Any], base: Path, findings: Findings) -> dict[str, ChannelSettings]:
    """The `[channels]` tables, checked by notifications (which owns the channel types)."""
    if not raw:
        return {}
    from ..notifications.settings import read_channels

    return read_channels(raw, base, findings)


def _read_toml(path: Path, findings: Findings) -> dict[str, Any]:
    import tomllib  # only with a settings file: most commands run on the defaults

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        findings.error(_("cannot read settings file: {reason}").format(reason=os_error_text(exc)))
    except UnicodeDecodeError:
        findings.error(_("settings file is not UTF-8 text"))
    else:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, column = _toml_position(str(exc), text)
            # tomllib's own words ("Expected ']' ...") have no translation; the place does.
            findings.error(_("not valid TOML: {problem}").format(
                problem=_TOML_POS.sub("", str(exc))), line, column)
    findings.raise_if_any()
    return {}


def _toml_position(message: str, text: str) -> tuple[int, int]:
    match = _TOML_POS.search(message)
    if match and match.group(1):
        return int(match.group(1)), int(match.group(2))
    if match:  # "at end of document": the last line
        return max(1, text.count("\n") + (not text.endswith("\n"))), 1
    return 1, 1


def _table(raw: Mapping[str, Any], key: str, findings: Findings) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        findings.error(_("{key}: expected a table, got {kind}").format(
            key=key, kind=type(value).__name__))
        return {}
    return value


def _scheduler(raw: dict[str, Any], findings: Findings) -> SchedulerSettings:
    defaults = SchedulerSettings()
    findings.unknown_keys(raw, set(vars(defaults)), "scheduler")
    values: dict[str, Any] = {}
    for key in ("sweep_minutes", "lease_seconds"):
        value = raw.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            findings.error(_("scheduler: {key} must be a positive whole number, got {value!r}")
                           .format(key=key, value=value))
        else:
            values[key] = value
    for key, parse in (("digest_time", parse_hhmm), ("weekly", parse_weekly)):
        value = raw.get(key, getattr(defaults, key))
        try:
            parse(value if isinstance(value, str) else repr(value))
            values[key] = value
        except ValueError as exc:
            findings.error(_("scheduler: {key}: {problem}").format(key=key, problem=exc))
    return SchedulerSettings(**values)


def _report(raw: dict[str, Any], findings: Findings) -> ReportSettings:
    findings.unknown_keys(raw, {"weights", "office", "issue_number", "first_week", "red_limit"},
                          "report")
    weights = _table(raw, "weights", findings)
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            findings.error(_("report.weights: {key} must be a number, got {value!r}").format(
                key=key, value=value))
    defaults = ReportSettings()
    texts = {key: _text(raw, key, getattr(defaults, key), findings)
             for key in ("office", "issue_number")}
    _check_issue(texts["issue_number"], findings)
    first_week = raw.get("first_week")
    if first_week is not None and not (isinstance(first_week, str)
                                       and _ISO_WEEK.match(first_week.strip())):
        findings.error(_("report: first_week must be an ISO week such as '2025-W36', "
                         "got {value!r}").format(value=first_week))
        first_week = None
    limit = raw.get("red_limit", defaults.red_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        findings.error(_("report: red_limit must be a whole number >= 1, got {value!r}")
                       .format(value=limit))
        limit = defaults.red_limit
    return ReportSettings({k: float(v) for k, v in weights.items()
                           if isinstance(v, int | float) and not isinstance(v, bool)},
                          first_week=first_week, red_limit=limit, **texts)


def _text(raw: Mapping[str, Any], key: str, default: str, findings: Findings) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        findings.error(_("report: {key} must be a string, got {value!r}")
                       .format(key=key, value=value))
        return default
    return value


def _check_issue(pattern: str, findings: Findings) -> None:
    """`issue_number` may name {year}, {week} and {n}, nothing else."""
    import string

    try:
        names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        findings.error(_("report: issue_number {pattern!r}: {problem}")
                       .format(pattern=pattern, problem=exc))
        return
    unknown = names - _ISSUE_FIELDS
    if unknown:
        findings.error(_("report: issue_number {pattern!r} names {names}; it may use "
                         "{{year}}, {{week}} and {{n}}").format(
                             pattern=pattern, names=", ".join(sorted(unknown))))


def _lights(raw: dict[str, Any], findings: Findings) -> LightsSettings:
    findings.unknown_keys(raw, {"yellow_workdays", "colors"}, "lights")
    yellow = raw.get("yellow_workdays", LightsSettings.yellow_workdays)
    if isinstance(yellow, bool) or not isinstance(yellow, int) or yellow < 0:
        findings.error(_("lights: yellow_workdays must be a whole number >= 0, got {value!r}")
                       .format(value=yellow))
        yellow = LightsSettings.yellow_workdays
    colors = _table(raw, "colors", findings)
    findings.unknown_keys(colors, set(DEFAULT_COLORS), "lights.colors")
    checked = {}
    for key, value in colors.items():
        if key not in DEFAULT_COLORS:
            continue  # reported above
        if not isinstance(value, str) or not _COLOR.match(value):
            findings.error(_("lights.colors: {key} must be a colour such as '#c62828', "
                             "got {value!r}").format(key=key, value=value))
        else:  # #rgb as #rrggbb: spreadsheets take only the long form
            checked[key] = value if len(value) == 7 else "#" + "".join(c * 2 for c in value[1:])
    return LightsSettings(yellow, {**DEFAULT_COLORS, **checked})


def _web(raw: dict[str, Any], findings: Findings) -> WebSettings:
    findings.unknown_keys(raw, {"base_url", "upload_mb", "session_hours", "min_password"}, "web")
    base_url = raw.get("base_url")
    if base_url is not None and (not isinstance(base_url, str)
                                 or not base_url.startswith(("http://", "https://"))):
        findings.error(_("web: base_url must be an http:// or https:// address, got {value!r}")
                       .format(value=base_url))
        base_url = None
    numbers = {}
    for key in ("upload_mb", "session_hours", "min_password"):
        value = raw.get(key, getattr(WebSettings, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            findings.error(_("web: {key} must be a whole number >= 1, got {value!r}").format(
                key=key, value=value))
            value = getattr(WebSettings, key)
        numbers[key] = value
    return WebSettings(base_url.rstrip("/") if base_url else None, **numbers)

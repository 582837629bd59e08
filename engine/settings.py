"""Settings (`rectify.toml`): notification channels, scheduler times, report weights, lights.

The only module that reads the settings file. Loading checks shape and types and rejects
unknown tables and keys with the allowed list; secrets given as `KEY_env = "VAR"` are looked
up only when the channels are built, so `validate` works on a machine without the secrets.
tomllib reports no positions for values, so problems point at line 1 of the file.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as TimeOfDay
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.errors import InvalidInput, Problem, SourceLoc

if TYPE_CHECKING:
    from ..notifications.delivery import Channel
    from ..notifications.ratelimit import Clock

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_COLORS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
DEFAULT_SOURCE = "<default settings>"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TOML_POS = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)")


@dataclass(frozen=True)
class ChannelSettings:
    """One `[channels.NAME]` table as written; `_env` keys are resolved by build_channels."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    units: tuple[str, ...] | None = None


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
    weights: Mapping[str, float] = field(default_factory=dict)  # free-form; the report names them


@dataclass(frozen=True)
class LightsSettings:
    yellow_workdays: int = 2  # yellow when the deadline is this many workdays away or closer
    colors: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))


def _default_channels() -> dict[str, ChannelSettings]:
    return {"log": ChannelSettings("log", "log")}


@dataclass(frozen=True)
class Settings:
    channels: Mapping[str, ChannelSettings] = field(default_factory=_default_channels)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    lights: LightsSettings = field(default_factory=LightsSettings)
    source: str = DEFAULT_SOURCE


def parse_hhmm(text: str) -> TimeOfDay:
    match = _HHMM.match(text.strip())
    if not match:
        raise ValueError(f"expected a time such as '19:00', got {text!r}")
    return TimeOfDay(int(match.group(1)), int(match.group(2)))


def parse_weekly(text: str) -> tuple[int, TimeOfDay]:
    day, _, hhmm = text.strip().lower().partition(" ")
    if day not in WEEKDAYS:
        raise ValueError(f"expected a day and a time such as 'fri 17:00', got {text!r}")
    return WEEKDAYS.index(day), parse_hhmm(hhmm)


class _Findings:
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
                did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
                listed = ", ".join(sorted(allowed)) or "none"
                self.error(f"{where}: unknown key {key!r}{did_you_mean}; allowed: {listed}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems, source=self.source)


def load_settings(path: Path | None) -> Settings:
    """Read and check the settings file; None means built-in defaults (one `log` channel)."""
    if path is None:
        return Settings()
    findings = _Findings(str(path))
    raw = _read_toml(path, findings)
    findings.unknown_keys(raw, {"channels", "scheduler", "report", "lights"}, "settings")
    channels = _channels(_table(raw, "channels", findings), path.parent, findings)
    settings = Settings(
        channels=channels or _default_channels(),
        scheduler=_scheduler(_table(raw, "scheduler", findings), findings),
        report=_report(_table(raw, "report", findings), findings),
        lights=_lights(_table(raw, "lights", findings), findings),
        source=str(path),
    )
    findings.raise_if_any()
    return settings


def _read_toml(path: Path, findings: _Findings) -> dict[str, Any]:
    import tomllib  # only with a settings file: most commands run on the defaults

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        findings.error(f"cannot read settings file: {exc.strerror or exc}")
    except UnicodeDecodeError:
        findings.error("settings file is not UTF-8 text")
    else:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, column = _toml_position(str(exc), text)
            findings.error(f"not valid TOML: {_TOML_POS.sub('', str(exc))}", line, column)
    findings.raise_if_any()
    return {}


def _toml_position(message: str, text: str) -> tuple[int, int]:
    match = _TOML_POS.search(message)
    if match and match.group(1):
        return int(match.group(1)), int(match.group(2))
    if match:  # "at end of document": the last line
        return max(1, text.count("\n") + (not text.endswith("\n"))), 1
    return 1, 1


def _table(raw: Mapping[str, Any], key: str, findings: _Findings) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        findings.error(f"{key}: expected a table, got {type(value).__name__}")
        return {}
    return value


def _channels(
    raw: Mapping[str, Any], base: Path, findings: _Findings
) -> dict[str, ChannelSettings]:
    channels = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            findings.error(f"channel {name!r}: expected a [channels.{name}] table")
            continue
        channel = _channel(name, table, base, findings)
        if channel is not None:
            channels[name] = channel
    return channels


def _channel(
    name: str, table: dict[str, Any], base: Path, findings: _Findings
) -> ChannelSettings | None:
    # The channel modules (smtplib, ssl, structlog) are imported only where channels are
    # configured: the default settings and `item show` need none of them.
    from ..notifications.channels import CHANNEL_TYPES

    where = f"channel {name!r}"
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
        shown = "missing" if kind is None else repr(kind)
        findings.error(f"{where}: type is {shown}; expected one of {', '.join(CHANNEL_TYPES)}")
        return None
    options = {k: v for k, v in table.items() if k not in ("type", "units")}
    if kind == "smtp" and "password" in options:
        findings.error(f"{where}: never write a password in the settings file; set "
                       f"password_env = \"VAR\" and put the password in that environment variable")
        options.pop("password")
    _check_options(where, kind, options, findings)
    if kind == "file" and isinstance(options.get("path"), str):
        # Relative to the settings file, not to wherever the scheduler happens to be started.
        options["path"] = str(base / Path(options["path"]).expanduser())
    return ChannelSettings(name, kind, options, _units(where, table.get("units"), findings))


def _check_options(where: str, kind: str, options: dict[str, Any], findings: _Findings) -> None:
    from ..notifications.channels import CHANNEL_TYPES

    spec = CHANNEL_TYPES[kind]
    findings.unknown_keys(options, spec.keys, where)
    for key in spec.required:
        if key not in options and f"{key}_env" not in options:
            alternative = f" or '{key}_env'" if f"{key}_env" in spec.keys else ""
            findings.error(f"{where}: {kind} needs {key!r}{alternative}")
    for key, value in options.items():
        _check_value(where, key, value, findings)
        if key.endswith("_env") and key[:-4] in options:
            findings.error(f"{where}: give {key[:-4]!r} or {key!r}, not both")


_NUMBERS = {"port": True, "per_minute": True, "timeout": False}  # key -> whole numbers only


def _choices() -> dict[str, tuple[str, ...]]:
    from ..notifications.robots import WeComChannel
    from ..notifications.smtp import SECURITY_PORTS

    return {"security": tuple(SECURITY_PORTS), "msgtype": tuple(WeComChannel.limits)}


def _check_value(where: str, key: str, value: Any, findings: _Findings) -> None:
    """Numbers where numbers belong, strings everywhere else, known words where words are fixed."""
    from ..notifications.transport import check_url

    choices = _choices()
    if key in _NUMBERS:
        if not _positive(value, whole=_NUMBERS[key]):
            findings.error(f"{where}: {key} must be a positive number, got {value!r}")
    elif not isinstance(value, str) or not value:
        findings.error(f"{where}: {key} must be a non-empty string, got {value!r}")
    elif key in choices and value not in choices[key]:
        findings.error(f"{where}: {key} must be one of {', '.join(choices[key])}, got {value!r}")
    elif key == "url":
        try:
            check_url(value)
        except ValueError as exc:
            findings.error(f"{where}: {exc}")


def _positive(value: Any, *, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # TOML true is not 1 second
    return (isinstance(value, int) or not whole) and value > 0


def _units(where: str, value: Any, findings: _Findings) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(
        isinstance(u, str) and u for u in value
    ):
        findings.error(f"{where}: units must be a non-empty list of unit ids, got {value!r}")
        return None
    return tuple(value)


def _scheduler(raw: dict[str, Any], findings: _Findings) -> SchedulerSettings:
    defaults = SchedulerSettings()
    findings.unknown_keys(raw, set(vars(defaults)), "scheduler")
    values: dict[str, Any] = {}
    for key in ("sweep_minutes", "lease_seconds"):
        value = raw.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            findings.error(f"scheduler: {key} must be a positive whole number, got {value!r}")
        else:
            values[key] = value
    for key, parse in (("digest_time", parse_hhmm), ("weekly", parse_weekly)):
        value = raw.get(key, getattr(defaults, key))
        try:
            parse(value if isinstance(value, str) else repr(value))
            values[key] = value
        except ValueError as exc:
            findings.error(f"scheduler: {key}: {exc}")
    return SchedulerSettings(**values)


def _report(raw: dict[str, Any], findings: _Findings) -> ReportSettings:
    findings.unknown_keys(raw, {"weights"}, "report")
    weights = _table(raw, "weights", findings)
    for key, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            findings.error(f"report.weights: {key} must be a number, got {value!r}")
    return ReportSettings({k: float(v) for k, v in weights.items()
                           if isinstance(v, int | float) and not isinstance(v, bool)})


def _lights(raw: dict[str, Any], findings: _Findings) -> LightsSettings:
    findings.unknown_keys(raw, {"yellow_workdays", "colors"}, "lights")
    yellow = raw.get("yellow_workdays", LightsSettings.yellow_workdays)
    if isinstance(yellow, bool) or not isinstance(yellow, int) or yellow < 0:
        findings.error(f"lights: yellow_workdays must be a whole number >= 0, got {yellow!r}")
        yellow = LightsSettings.yellow_workdays
    colors = _table(raw, "colors", findings)
    findings.unknown_keys(colors, set(DEFAULT_COLORS), "lights.colors")
    for key, value in colors.items():
        if not isinstance(value, str):
            findings.error(f"lights.colors: {key} must be a string, got {value!r}")
    return LightsSettings(yellow, {**DEFAULT_COLORS, **colors})


def build_channels(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.monotonic,
) -> dict[str, Channel]:
    """The configured channels, secrets read from `env` (default os.environ) now."""
    from ..notifications.channels import CHANNEL_TYPES

    env = os.environ if env is None else env
    findings = _Findings(settings.source)
    channels: dict[str, Channel] = {}
    for name, config in settings.channels.items():
        options = _resolve_env(config, env, findings)
        if options is None:
            continue
        try:
            channels[name] = CHANNEL_TYPES[config.type].build(name, config.units, options, clock)
        except ValueError as exc:
            findings.error(f"channel {name!r}: {exc}")
    findings.raise_if_any()
    return channels


def _resolve_env(
    config: ChannelSettings, env: Mapping[str, str], findings: _Findings
) -> dict[str, Any] | None:
    """Options with each `KEY_env = "VAR"` replaced by `KEY = <value of VAR>`."""
    options: dict[str, Any] = {}
    ok = True
    for key, value in config.options.items():
        if not key.endswith("_env"):
            options[key] = value
        elif env.get(value):
            options[key[:-4]] = env[value]
        else:
            findings.error(f"channel {config.name!r}: {key} names the environment variable "
                           f"{value}, which is not set")
            ok = False
    return options if ok else None

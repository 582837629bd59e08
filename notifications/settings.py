"""The `[channels.NAME]` tables of rectify.toml: what each channel type accepts, and the channels
built from them.

`engine/settings.py` reads the file and hands this module the `[channels]` table; the channel
types, their options, the rule that SMTP passwords come only from the environment, and the
`KEY_env = "VAR"` secrets (looked up only when the channels are built, so `workflow validate`
and `item show` work on a machine without the secrets) all live here, beside the channels.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..engine.core.errors import InvalidInput, Problem, SourceLoc
from ..engine.core.i18n import _

if TYPE_CHECKING:
    from ..engine.settings import Settings
    from .delivery import Channel
    from .ratelimit import Clock

__all__ = ["ChannelSettings", "build_channels", "default_channels", "read_channels"]


class Findings(Protocol):
    """Where problems of the settings file are collected (engine.settings.Findings)."""

    def error(self, message: str, line: int = 1, column: int = 1) -> None: ...

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str] | frozenset[str],
                     where: str) -> None: ...


@dataclass(frozen=True)
class ChannelSettings:
    """One `[channels.NAME]` table as written; `_env` keys are resolved by build_channels."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    units: tuple[str, ...] | None = None


def default_channels() -> dict[str, ChannelSettings]:
    """Without a `[channels]` table notifications still go somewhere: the log."""
    return {"log": ChannelSettings("log", "log")}


def read_channels(
    raw: Mapping[str, Any], base: Path, findings: Findings
) -> dict[str, ChannelSettings]:
    """Check every `[channels.NAME]` table; `base` is the settings file's folder."""
    channels = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            findings.error(_("channel {name!r}: expected a [channels.{name}] table").format(
                name=name))
            continue
        channel = _channel(name, table, base, findings)
        if channel is not None:
            channels[name] = channel
    return channels


def _channel(
    name: str, table: dict[str, Any], base: Path, findings: Findings
) -> ChannelSettings | None:
    # The channel modules (smtplib, ssl, structlog) are imported only where channels are
    # configured: the default settings and `item show` need none of them.
    from .channels import CHANNEL_TYPES

    where = _("channel {name!r}").format(name=name)
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
        shown = _("missing") if kind is None else repr(kind)
        findings.error(_("{where}: type is {shown}; expected one of {types}").format(
            where=where, shown=shown, types=", ".join(CHANNEL_TYPES)))
        return None
    options = {k: v for k, v in table.items() if k not in ("type", "units")}
    if kind == "smtp" and "password" in options:
        findings.error(_("{where}: never write a password in the settings file; set "
                         "password_env = \"VAR\" and put the password in that environment "
                         "variable").format(where=where))
        options.pop("password")
    _check_options(where, kind, options, findings)
    if kind == "file" and isinstance(options.get("path"), str):
        # Relative to the settings file, not to wherever the scheduler happens to be started.
        options["path"] = str(base / Path(options["path"]).expanduser())
    return ChannelSettings(name, kind, options, _units(where, table.get("units"), findings))


def _check_options(where: str, kind: str, options: dict[str, Any], findings: Findings) -> None:
    from .channels import CHANNEL_TYPES

    spec = CHANNEL_TYPES[kind]
    findings.unknown_keys(options, spec.keys, where)
    for key in spec.required:
        if key not in options and f"{key}_env" not in options:
            alternative = (_(" or '{key}_env'").format(key=key) if f"{key}_env" in spec.keys
                           else "")
            findings.error(_("{where}: {kind} needs {key!r}{alternative}").format(
                where=where, kind=kind, key=key, alternative=alternative))
    for key, value in options.items():
        _check_value(where, key, value, findings)
        if key.endswith("_env") and key[:-4] in options:
            findings.error(_("{where}: give {plain!r} or {key!r}, not both").format(
                where=where, plain=key[:-4], key=key))


_NUMBERS = {"port": True, "per_minute": True, "timeout": False}  # key -> whole numbers only


def _choices() -> dict[str, tuple[str, ...]]:
    from .robots import WeComChannel
    from .smtp import SECURITY_PORTS

    return {"security": tuple(SECURITY_PORTS), "msgtype": tuple(WeComChannel.limits)}


def _check_value(where: str, key: str, value: Any, findings: Findings) -> None:
    """Numbers where numbers belong, strings everywhere else, known words where words are fixed."""
    from .transport import check_url

    choices = _choices()
    if key in _NUMBERS:
        if not _positive(value, whole=_NUMBERS[key]):
            findings.error(_("{where}: {key} must be a positive number, got {value!r}").format(
                where=where, key=key, value=value))
    elif not isinstance(value, str) or not value:
        findings.error(_("{where}: {key} must be a non-empty string, got {value!r}").format(
            where=where, key=key, value=value))
    elif key in choices and value not in choices[key]:
        findings.error(_("{where}: {key} must be one of {choices}, got {value!r}").format(
            where=where, key=key, choices=", ".join(choices[key]), value=value))
    elif key == "url":
        try:
            check_url(value)
        except ValueError as exc:
            findings.error(f"{where}: {exc}")


def _positive(value: Any, *, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # TOML true is not 1 second
    return (isinstance(value, int) or not whole) and value > 0


def _units(where: str, value: Any, findings: Findings) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(
        isinstance(u, str) and u for u in value
    ):
        findings.error(_("{where}: units must be a non-empty list of unit ids, got {value!r}")
                       .format(where=where, value=value))
        return None
    return tuple(value)


def build_channels(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.monotonic,
) -> dict[str, Channel]:
    """The configured channels, secrets read from `env` (default os.environ) now."""
    from .channels import CHANNEL_TYPES

    env = os.environ if env is None else env
    problems: list[str] = []
    channels: dict[str, Channel] = {}
    for name, config in settings.channels.items():
        options = _resolve_env(config, env, problems)
        if options is None:
            continue
        try:
            channels[name] = CHANNEL_TYPES[config.type].build(name, config.units, options, clock)
        except ValueError as exc:
            problems.append(_("channel {name!r}: {problem}").format(name=name, problem=exc))
    if problems:
        where = SourceLoc(settings.source, 1, 1)
        raise InvalidInput([Problem(where, p) for p in problems], source=settings.source)
    return channels


def _resolve_env(
    config: ChannelSettings, env: Mapping[str, str], problems: list[str]
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
            problems.append(_("channel {name!r}: {key} names the environment variable "
                              "{variable}, which is not set").format(
                                  name=config.name, key=key, variable=value))
            ok = False
    return options if ok else None

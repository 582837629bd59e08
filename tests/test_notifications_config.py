"""Settings: channels, scheduler, report weights and lights from rectify.toml, and their errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from rectify.commands.support import exit_code
from rectify.engine.core.errors import InvalidInput
from rectify.engine.settings import Settings, load_settings
from rectify.notifications.channels import (
    DingTalkChannel,
    FileChannel,
    LogChannel,
    SmtpChannel,
    WebhookChannel,
    WeComChannel,
)
from rectify.notifications.settings import ChannelSettings, build_channels

FULL = """
[channels.mail]
type = "smtp"
host = "smtp.example.org"
port = 2525
sender = "督查办 <ducha@example.org>"
security = "none"
user = "ducha"
password_env = "RECTIFY_TEST_SMTP_PW"

[channels.town-a]
type = "wecom"
url_env = "RECTIFY_TEST_WECOM_URL"
units = ["town-a"]
msgtype = "text"
per_minute = 10

[channels.county]
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=x"
secret_env = "RECTIFY_TEST_DING_SECRET"
units = ["county"]

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "plain-is-allowed-for-webhooks"
timeout = 2.5

[channels.audit]
type = "file"
path = "out/notifications.jsonl"

[channels.console]
type = "log"

[scheduler]
sweep_minutes = 10
digest_time = "18:30"
weekly = "mon 08:00"

[report.weights]
closed_on_time = 2
overdue = -1.5

[lights]
yellow_workdays = 3
colors = {red = "#ff0000"}
"""

ENV = {
    "RECTIFY_TEST_SMTP_PW": "s3cret",
    "RECTIFY_TEST_WECOM_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    "RECTIFY_TEST_DING_SECRET": "SECabc",
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rectify.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_one_log_channel() -> None:
    """Without settings, notifications go to the log and all defaults apply."""
    settings = load_settings(None)
    assert settings == Settings()
    channels = build_channels(settings, env={})
    assert list(channels) == ["log"] and isinstance(channels["log"], LogChannel)
    assert settings.scheduler.digest_at == time(19, 0)
    assert settings.scheduler.weekly_at == (4, time(17, 0))
    assert settings.lights.yellow_workdays == 2


def test_full_file_is_read_and_built(tmp_path: Path) -> None:
    """Every table is read; `_env` secrets are taken from the environment when building."""
    settings = load_settings(_write(tmp_path, FULL))
    assert settings.scheduler.sweep_minutes == 10
    assert settings.scheduler.weekly_at == (0, time(8, 0))
    assert settings.scheduler.lease_seconds == 60
    assert settings.report.weights == {"closed_on_time": 2.0, "overdue": -1.5}
    assert settings.lights.yellow_workdays == 3
    assert settings.lights.colors["red"] == "#ff0000" and settings.lights.colors["green"]
    channels = build_channels(settings, env=ENV)
    mail, wecom, ding = channels["mail"], channels["town-a"], channels["county"]
    assert isinstance(mail, SmtpChannel) and mail.port == 2525 and mail._password == "s3cret"
    assert isinstance(wecom, WeComChannel) and wecom.url == ENV["RECTIFY_TEST_WECOM_URL"]
    assert wecom.units == ("town-a",) and wecom.msgtype == "text"
    assert isinstance(ding, DingTalkChannel) and ding.secret == "SECabc"
    assert isinstance(channels["hook"], WebhookChannel) and channels["hook"].timeout == 2.5
    audit = channels["audit"]
    assert isinstance(audit, FileChannel) and audit.path == tmp_path / "out/notifications.jsonl"


def test_file_without_channels_keeps_the_log_channel(tmp_path: Path) -> None:
    """A settings file for the scheduler alone still leaves notifications somewhere to go."""
    settings = load_settings(_write(tmp_path, "[scheduler]\nsweep_minutes = 1\n"))
    assert settings.channels == {"log": ChannelSettings("log", "log")}


def test_unknown_type_lists_the_known_ones(tmp_path: Path) -> None:
    """An unknown type names the channel and the allowed types, at FILE:1:1."""
    path = _write(tmp_path, '[channels.chat]\ntype = "wechat"\n')
    with pytest.raises(InvalidInput, match=r"rectify\.toml:1:1: channel 'chat': type is 'wechat'"
                       r"; expected one of smtp, wecom, dingtalk, webhook, log, file"):
        load_settings(path)


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    """A misspelt key is named with a suggestion and the allowed list."""
    path = _write(tmp_path, '[channels.mail]\ntype = "smtp"\nhots = "x"\nsender = "a@b.c"\n')
    with pytest.raises(InvalidInput) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "channel 'mail': unknown key 'hots' (did you mean 'host'?)" in message
    assert "allowed: host, password_env, port, security, sender, timeout, user" in message
    assert "channel 'mail': smtp needs 'host'" in message


def test_password_in_file_is_refused(tmp_path: Path) -> None:
    """SMTP passwords come from the environment only."""
    path = _write(tmp_path, '[channels.mail]\ntype = "smtp"\nhost = "h"\nsender = "a@b.c"\n'
                            'password = "hunter2"\n')
    with pytest.raises(InvalidInput, match="never write a password in the settings file"):
        load_settings(path)


def test_missing_environment_variable_names_channel_key_and_variable(tmp_path: Path) -> None:
    """The file loads; building the channel says which variable is missing, for which key."""
    settings = load_settings(_write(tmp_path, FULL))
    with pytest.raises(InvalidInput, match="channel 'county': secret_env names the environment "
                                           "variable RECTIFY_TEST_DING_SECRET, which is not set"):
        build_channels(settings, env={k: v for k, v in ENV.items() if "DING" not in k})


def test_values_are_checked(tmp_path: Path) -> None:
    """Wrong types, unknown words and non-HTTP URLs are all reported in one go."""
    path = _write(tmp_path, """
[channels.w]
type = "wecom"
url = "file:///etc/passwd"
per_minute = 0
msgtype = "news"
units = []
[channels.m]
type = "smtp"
host = "h"
sender = "a@b.c"
security = "tls"
[scheduler]
digest_time = "25:00"
weekly = "friday 17:00"
colour = 1
[lights]
yellow_workdays = -1
colors = {blue = "#00f"}
[report.weights]
overdue = "high"
[extra]
""")
    with pytest.raises(InvalidInput) as caught:
        load_settings(path)
    problems = [p.message for p in caught.value.problems]
    expected = [
        "url must start with http:// or https://", "per_minute must be a positive number",
        "msgtype must be one of markdown, text", "units must be a non-empty list",
        "security must be one of starttls, ssl, none", "digest_time: expected a time",
        "weekly: expected a day and a time", "scheduler: unknown key 'colour'",
        "yellow_workdays must be a whole number", "lights.colors: unknown key 'blue'",
        "report.weights: overdue must be a number", "settings: unknown key 'extra'",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), fragment
    assert all(p.loc.line == 1 for p in caught.value.problems)


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    """tomllib knows where the syntax broke; that position is kept."""
    path = _write(tmp_path, '[channels.log]\ntype = "log"\nunits = [1,,]\n')
    with pytest.raises(InvalidInput, match=r"rectify\.toml:3:\d+: not valid TOML: Invalid"):
        load_settings(path)
    path.write_text('[channels.log]\ntype = "log"\nunits = [\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"rectify\.toml:3:1: not valid TOML: Invalid value$"):
        load_settings(path)


def test_url_given_twice_is_refused(tmp_path: Path) -> None:
    """`url` and `url_env` together would leave it unclear which one is used."""
    path = _write(tmp_path, '[channels.h]\ntype = "webhook"\nurl = "http://x"\nurl_env = "U"\n')
    with pytest.raises(InvalidInput, match="give 'url' or 'url_env', not both"):
        load_settings(path)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    """An explicit --config that does not exist is an input error, exit code 6."""
    with pytest.raises(InvalidInput, match="cannot read settings file") as caught:
        load_settings(tmp_path / "nope.toml")
    assert exit_code(caught.value) == 6

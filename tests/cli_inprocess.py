"""Run the `rectify` command line in this process, through `commands.support.run`, so errors become
exit codes and stderr lines exactly as in the console script (without an interpreter start-up
per command). `Rectify` serves tests that hold pytest's capsys and monkeypatch; `invoke` stands in
for `subprocess.run` of the console script, environment, folder and standard streams included."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from openpyxl import Workbook
from rectify.cli import cli
from rectify.commands.support import run
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.core.i18n import current_language, use_language
from rectify.engine.store.db import open_engine, upgrade
from rectify.workflows import HERE as WORKFLOWS

from .conftest import FIXTURES


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Rectify:
    """`rectify --db URL [--now T] [--as P] ARGS...` in-process; returns code, stdout, stderr."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch, now: str | None = None) -> None:
        self.url, self.capsys, self.monkeypatch, self.now = url, capsys, monkeypatch, now
        for key in [k for k in __import__("os").environ if k.startswith("RECTIFY_")]:
            monkeypatch.delenv(key)

    def __call__(self, *args: str, actor: str | None = None, now: str | None = None,
                 as_json: bool = False) -> Result:
        argv = ["rectify", "--db", self.url] if self.url else ["rectify"]  # "": the default
        if now or self.now:
            argv += ["--now", now or self.now or ""]
        argv += (["--as", actor] if actor else []) + (["--json"] if as_json else [])
        self.monkeypatch.setattr(sys, "argv", [*argv, *args])
        self.capsys.readouterr()
        with process_settings_kept():
            code = _run_cli()
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self(*args, **kwargs)
        assert result.code == 0, (args, result.code, result.err)
        return result


def invoke(argv: list[str], env: Mapping[str, str], cwd: Path
           ) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)` for the console
    script, run in this process: the environment, working folder, argv and standard streams are
    the command's for its run and put back after, so a test reads what a user would see."""
    stdout, stderr = _stream(), _stream()
    saved = (dict(os.environ), Path.cwd(), sys.argv, sys.stdin, sys.stdout, sys.stderr)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv, sys.stdin = ["rectify", *argv[1:]], io.StringIO("")
    sys.stdout, sys.stderr = stdout, stderr
    try:
        with process_settings_kept():
            code = _run_cli()
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved[2:]
    return subprocess.CompletedProcess(argv, code, _text(stdout), _text(stderr))


def _stream() -> io.TextIOWrapper:
    """A captured stream that is not a terminal, written as the console script's would be."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8").replace("\r\n", "\n")


def _run_cli() -> int:
    """`run(cli)` to its exit, as the exit code the shell would see."""
    try:
        run(cli)
    except SystemExit as exited:
        code = exited.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


@contextmanager
def process_settings_kept() -> Iterator[None]:
    """What a command sets for its whole process, put back after it: `run` points structlog at
    the command's stderr (later tests in this worker would log into a closed stream) and
    chooses the language of messages (`--lang zh` would leave later tests reading Chinese)."""
    configured, config = structlog.is_configured(), structlog.get_config()
    language, language_env = current_language(), os.environ.get("LANGUAGE")
    try:
        yield
    finally:
        if configured:
            structlog.configure(**config)
        else:
            structlog.reset_defaults()
        use_language(language)
        if language_env is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = language_env


def prepared_service(url: str, clock: FixedClock, files: Path,
                     org: Path = FIXTURES / "org.yaml",
                     workflows: tuple[str, ...] = ("rectification",)) -> Service:
    """A migrated database with an org and bundled workflows loaded."""
    engine = open_engine(url)
    upgrade(engine)
    service = Service(engine, clock, files_dir=files)
    service.load_org(org)
    for name in workflows:
        service.load_workflow(WORKFLOWS / f"{name}.yaml")
    return service


def write_xlsx(path: Path, rows: list[list[Any]], title: str | None = "某县问题整改台账") -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    import csv

    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out).writerows(rows)
    return path

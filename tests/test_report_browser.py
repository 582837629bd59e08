"""The HTML weekly report in a real headless browser (Debian's chromium, which .ci/run installs):
it renders, a screenshot is written, and the rendered page has the tables and the SVG chart.

Outside CI, without chromium, the test skips and says why; in CI (CI=true) a missing chromium
is a failure, so the check cannot silently stop running.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rectify.engine.app.sweep import sweep
from rectify.engine.core.clock import FixedClock

from .cli_inprocess import Rectify, prepared_service

NOW = "2025-11-07T18:00:00+08:00"
WIDTH, HEIGHT = 1200, 1800


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not installed (apt-get install -y chromium): cannot check the HTML " \
              "report in a real browser"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run installs it, CI must run this test")
    pytest.skip(message)


def headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def report_html(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> Path:
    """The weekly report of a small county, written by `rectify report weekly -o`."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    clock = FixedClock(datetime(2025, 10, 20, 1, 0, tzinfo=UTC))
    service = prepared_service(url, clock, tmp_path / "files")
    for unit, due in (("village-a1", "2025-11-05"), ("village-a2", "2025-12-31"),
                      ("village-b1", "2025-12-31")):
        item = service.new_item("qian", "rectification", unit, assignee="zhang", due=due,
                                values={"description": f"{unit} 的问题"})
        service.advance(item, "qian", "assign")
    clock.set(datetime.fromisoformat(NOW))
    sweep(service)
    service.engine.dispose()
    path = tmp_path / "report" / "周报.html"
    path.parent.mkdir()
    Rectify(url, capsys, monkeypatch, now=NOW).ok("report", "weekly", "-o", str(path))
    return path


def test_html_report_renders_in_headless_chromium(report_html: Path, tmp_path: Path) -> None:
    """Headless chromium renders the HTML weekly report to a full-size screenshot, and
    its DOM has the tables, chart and no external links."""
    chromium = browser()
    shot = tmp_path / "screenshot.png"
    page = report_html.resolve().as_uri()
    done = headless(chromium, tmp_path / "profile-shot", f"--screenshot={shot}",
                    f"--window-size={WIDTH},{HEIGHT}", page)
    assert done.returncode == 0, done.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)  # the IHDR chunk: width, height
    assert len(png) > 20_000, len(png)  # a rendered page, not a blank image
    dom = headless(chromium, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<table") == 1 + 2 + 1  # ranking, two townships' villages, red items
    assert "单位排名" in html and "大杨集镇" in html and "红灯事项（1 项）" in html
    assert "<svg" in html and "<polyline" in html and html.count("<rect") >= 8
    assert "http://" not in html and "https://" not in html

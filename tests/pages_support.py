"""A small county for the page tests, and a real uvicorn serving it on 127.0.0.1.

`seed_county` loads the sample org and the rectification workflow, sets passwords, and makes
items in every light (red, yellow, green, no deadline), one closed this week, one in acceptance
with a photo, and one whose description is a script tag. `serving` runs `create_app` under
uvicorn in a thread on a free port, with the clock fixed (`--now`), until the block ends.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rectify.engine.app import identity
from rectify.engine.app.runtime import Runtime
from rectify.engine.core.clock import FixedClock

from .cli_inprocess import prepared_service

PASSWORD = "correct-horse-9"
SCRIPT = "<script>alert(1)</script>"
# Monday 2025-10-20 10:00 in Beijing: items made a week earlier are near or past due.
CREATED = datetime.fromisoformat("2025-10-09T09:00:00+08:00")
NOW = "2025-10-20T10:00:00+08:00"


@dataclass(frozen=True)
class County:
    url: str
    files: Path
    red: int  # zhang's, in 整改中, past its deadline
    yellow: int  # zhang's, due within two workdays
    green: int  # zhang's, due in weeks
    accepting: int  # submitted by zhang with a photo: waits for zhao (验收)
    script: int  # description `<script>…`, at village-a2
    other_town: int  # village-b1: nobody of town-a may see it


def jpeg(taken: str | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG; with `taken` ('2025:10:01 08:30:00'), EXIF capture time and a
    GPS position (东经 117.1, 北纬 36.6)."""
    from PIL import Image
    from PIL.ExifTags import GPS, IFD, Base
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", size, (40, 120, 200))
    out = io.BytesIO()
    exif = Image.Exif()
    if taken:
        exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = taken
        gps = exif.get_ifd(IFD.GPSInfo)
        gps[GPS.GPSLatitudeRef], gps[GPS.GPSLongitudeRef] = "N", "E"
        gps[GPS.GPSLatitude] = (IFDRational(36), IFDRational(36), IFDRational(0))
        gps[GPS.GPSLongitude] = (IFDRational(117), IFDRational(6), IFDRational(0))
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def seed_county(url: str, root: Path) -> County:
    clock = FixedClock(CREATED)
    files = root / "files"
    service = prepared_service(url, clock, files)
    for person in ("zhang", "zhao", "li", "wang", "qian", "zhou", "sun"):
        identity.set_password(service, person, PASSWORD, min_length=8)

    def made(unit: str, description: str, due: str | None, assignee: str = "zhang") -> int:
        item = service.new_item("li" if unit != "village-b1" else "qian", "rectification", unit,
                                assignee=assignee, due=due,
                                values={"description": description, "category": "信息不实"})
        service.advance(item, "li" if unit != "village-b1" else "qian", "assign")
        return item

    red = made("village-a1", "户籍信息与实际不符，需到派出所核实", "2025-10-15")
    yellow = made("village-a1", "危房改造验收资料缺少入户照片", "2025-10-21")
    green = made("village-a1", "帮扶措施台账填写不完整", "2025-11-28")
    accepting = made("village-a1", "低保户家庭收入核算有误", "2025-10-31")
    photo = root / "现场照片.jpg"
    photo.write_bytes(jpeg("2025:10:01 08:30:00"))  # before it was assigned: flagged
    service.advance(accepting, "zhang", "submit", values={"measures": "已重新核算并公示"},
                    attach=[photo])
    script = made("village-a2", SCRIPT, "2025-10-31", assignee="sun")
    other = made("village-b1", "东关村的问题", "2025-10-31", assignee="zhou")
    closed = made("village-a1", "已整改的问题", "2025-10-31")
    service.advance(closed, "zhang", "submit", values={"measures": "已改"},
                    attach=[photo])
    clock.set(datetime.fromisoformat(NOW))
    service.advance(closed, "zhao", "accept")  # closed this week
    service.engine.dispose()
    return County(url, files, red, yellow, green, accepting, script, other)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(url: str, files: Path, now: str = NOW, config: Path | None = None) -> Iterator[str]:
    """`create_app` under a real uvicorn on 127.0.0.1:PORT, with `config` as rectify.toml;
    yields the base URL."""
    import os

    import uvicorn
    from rectify.web.app import create_app

    old = os.environ.get("RECTIFY_FILES")
    os.environ["RECTIFY_FILES"] = str(files)
    try:
        app = create_app(Runtime(url, now_text=now, config=str(config) if config else None))
    finally:
        if old is None:
            os.environ.pop("RECTIFY_FILES", None)
        else:
            os.environ["RECTIFY_FILES"] = old
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.service.engine.dispose()

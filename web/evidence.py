"""Evidence in the browser: uploads checked by content and size, what a photo says about itself
(EXIF capture time and place, read with Pillow), thumbnails, and the answer that serves a
stored file.

A request never names a path: a file is found by its item and SHA-256 in the attachments
table, and read from the content-addressed store (`engine/store/evidence.py: path_for`, which
accepts nothing but 64 hex digits). Served files carry a content type decided by their bytes,
`X-Content-Type-Options: nosniff` and a sandboxing CSP, so an uploaded HTML or SVG file can
never run as a page of rectify.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from ..engine.store.evidence import safe_name

CHUNK = 1 << 20
THUMB_PX = 320
MAX_PIXELS = 60_000_000  # a 50 MP phone photo, with room; beyond it no thumbnail is made
# What the photo field takes, told by the first bytes. HEIC is what iPhones take; PDF is how
# offices scan signed paper. Anything else is refused, whatever its name says.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic")
ACCEPTED = (*IMAGE_TYPES, "application/pdf")
PHOTO_FORMATS = "JPEG、PNG、GIF、WebP、HEIC 照片或 PDF"


class UploadRefused(Exception):
    """An upload that is not taken: its message is the one line the form shows."""


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes, or None for anything not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "image/heic"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


async def save_uploads(uploads: list[Any], folder: Path, limit: int) -> list[Path]:
    """Copy each chosen file to `folder/N/NAME` (the name's last component only), refusing one
    past `limit` bytes or whose content is not a photo or PDF. An empty file input (nothing
    chosen) sends a part without a name: it is skipped."""
    saved = []
    for n, upload in enumerate(uploads):
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        saved.append(await _save(upload, folder / str(n), limit))
    return saved


async def _save(upload: UploadFile, folder: Path, limit: int) -> Path:
    name = safe_name(upload.filename or "file")
    folder.mkdir(parents=True)
    target = folder / name
    size, head = 0, b""
    with target.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            if not head:
                head = chunk[:16]
            size += len(chunk)
            if size > limit:
                raise UploadRefused(f"“{name}”超过 {limit // (1024 * 1024)} MB，未上传；"
                                    "请压缩后再传")
            out.write(chunk)
    if size == 0:
        raise UploadRefused(f"“{name}”是空文件，未上传")
    if sniff(head) is None:
        raise UploadRefused(f"“{name}”不是{PHOTO_FORMATS}（按文件内容判断），未上传")
    return target


@dataclass(frozen=True)
class PhotoFacts:
    """What a photo records about itself; any part may be missing (messengers strip EXIF)."""

    taken_at: datetime | None = None  # aware when the camera wrote its offset, else local
    place: tuple[float, float] | None = None  # latitude, longitude in degrees


@lru_cache(maxsize=1024)
def photo_facts(path: Path) -> PhotoFacts:
    """EXIF capture time and GPS place of a stored photo. Cached by path, which is the
    content's digest: a stored file never changes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return PhotoFacts()
    return PhotoFacts(_taken_at(exif), _place(exif))


def _taken_at(exif: Any) -> datetime | None:
    from PIL.ExifTags import IFD, Base

    sub = exif.get_ifd(IFD.Exif)
    text = sub.get(Base.DateTimeOriginal) or exif.get(Base.DateTime)
    if not isinstance(text, str):
        return None
    try:
        at = datetime.strptime(text.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(Base.OffsetTimeOriginal)
    if isinstance(offset, str) and len(offset) == 6 and offset[0] in "+-":
        try:
            hours, minutes = int(offset[1:3]), int(offset[4:6])
        except ValueError:
            return at
        sign = 1 if offset[0] == "+" else -1
        at = at.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    return at


def _place(exif: Any) -> tuple[float, float] | None:
    from PIL.ExifTags import GPS, IFD

    gps = exif.get_ifd(IFD.GPSInfo)
    try:
        lat = _degrees(gps[GPS.GPSLatitude], gps.get(GPS.GPSLatitudeRef, "N"), "S")
        lon = _degrees(gps[GPS.GPSLongitude], gps.get(GPS.GPSLongitudeRef, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _degrees(parts: Any, ref: Any, negative: str) -> float:
    d, m, s = (float(p) for p in parts)
    value = d + m / 60 + s / 3600
    return -value if str(ref).upper().startswith(negative) else value


def place_text(place: tuple[float, float]) -> str:
    lat, lon = place
    return (f"{'北纬' if lat >= 0 else '南纬'} {abs(lat):.5f}°，"
            f"{'东经' if lon >= 0 else '西经'} {abs(lon):.5f}°")


@lru_cache(maxsize=256)
def thumbnail(path: Path) -> bytes | None:
    """A small JPEG of a stored photo, turned upright; None when Pillow cannot read it (HEIC
    without a plugin, a damaged file): the page then shows a link instead."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:  # a decompression bomb, or near one:
                return None  # the header says so before any pixel is decoded
            image.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # JPEG: decode at a smaller scale
            small = ImageOps.exif_transpose(image)
            small.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            small.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None


def content_type(path: Path) -> str | None:
    with path.open("rb") as f:
        return sniff(f.read(16))


SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Cache-Control": "private, max-age=3600",
}


def file_response(path: Path, name: str) -> Response:
    """A stored file as its true type (images and PDF shown in the browser), anything else as
    a download of opaque bytes."""
    kind = content_type(path)
    disposition = "inline" if kind in ACCEPTED else "attachment"
    headers = {**SAFE_HEADERS, "Content-Disposition": _disposition(disposition, name)}
    return FileResponse(path, media_type=kind or "application/octet-stream", headers=headers)


def thumbnail_response(data: bytes) -> Response:
    return Response(data, media_type="image/jpeg", headers=dict(SAFE_HEADERS))


def _disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (Chinese file names survive)."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                         for c in safe_name(name))
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe_name(name))}"


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, size // 1024)} KB"

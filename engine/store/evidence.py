"""Evidence files (佐证材料): copied into a content-addressed store beside the database.

A file is kept under its SHA-256 (`ab/abcdef...`), never under the name the user gave, so no
name — `../../etc/passwd`, an absolute path, a NUL — can place a file outside the store. The
original name is kept as data only, reduced to its last path component.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from ..core.errors import UsageError
from ..core.i18n import _

CHUNK = 1 << 20
DEFAULT_MAX_MB = 100  # per attachment; RECTIFY_MAX_ATTACHMENT_MB changes it


def max_attachment_bytes() -> int:
    """The largest file `--attach` accepts: a photo or a scanned form, not a disk image."""
    try:
        return int(float(os.environ.get("RECTIFY_MAX_ATTACHMENT_MB", DEFAULT_MAX_MB)) * 2**20)
    except ValueError:
        return DEFAULT_MAX_MB * 2**20


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    name: str
    size: int

    def record(self) -> dict[str, Any]:
        """How the file appears in an item's files field."""
        return {"sha256": self.sha256, "name": self.name, "size": self.size}

    def row(self, field: str, now: datetime) -> dict[str, Any]:
        return {**self.record(), "field": field, "added_at": now}


def safe_name(name: str) -> str:
    """The last component of a user-supplied name, without separators or control characters."""
    base = PurePath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in "/\\")
    return cleaned.strip(". ") or "file"


def path_for(store: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return store / sha256[:2] / sha256


def store_file(store: Path, source: Path) -> StoredFile:
    """Copy `source` into the store (once per content) and describe it."""
    if source.is_symlink():  # a link could reach files the person could not name (issue 18)
        raise UsageError(_("--attach {source}: a symbolic link; attach the file "
                           "itself").format(source=source))
    if not source.is_file():
        raise UsageError(_("--attach {source}: no such file").format(source=source))
    limit = max_attachment_bytes()
    if source.stat().st_size > limit:
        raise UsageError(_("--attach {source}: larger than {megabytes:g} MB "
                           "(RECTIFY_MAX_ATTACHMENT_MB)").format(
                             source=source, megabytes=limit / 2**20))
    store.mkdir(mode=0o700, parents=True, exist_ok=True)  # evidence: readable by its owner only
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=store, prefix=".incoming-")
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
                if size > limit:  # it grew while being copied
                    raise UsageError(_("--attach {source}: larger than {megabytes:g} MB").format(
                                         source=source, megabytes=limit / 2**20))
        target = path_for(store, digest.hexdigest())
        target.parent.mkdir(mode=0o700, exist_ok=True)
        if target.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)  # nothing half-written stays in the store
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise UsageError(_("--attach {file}: the evidence folder {folder} is full "
                               "({reason}); nothing was stored or changed").format(
                file=source, folder=store, reason=exc.strerror)) from exc
        raise
    return StoredFile(digest.hexdigest(), safe_name(source.name), size)


def copy_out(store: Path, sha256: str, dest: Path) -> None:
    shutil.copyfile(path_for(store, sha256), dest)

"""Files rectify creates hold private fields: the SQLite database (engine/store/db.py) and the
evidence store (engine/store/evidence.py) are readable by their owner only, whatever the umask;
an attachment that is a symbolic link or over the size limit is refused before anything is
copied."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from rectify.engine.core.errors import UsageError
from rectify.engine.store.db import open_engine, upgrade
from rectify.engine.store.evidence import store_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_file_is_owner_only(tmp_path: Path) -> None:
    """Under umask 022 a new database and its WAL files are created 0600."""
    old = os.umask(0o022)
    try:
        engine = open_engine(f"sqlite:///{tmp_path / 'r.db'}")
        upgrade(engine)
        engine.dispose()
    finally:
        os.umask(old)
    for path in tmp_path.glob("r.db*"):
        assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))


def test_evidence_store_is_owner_only(tmp_path: Path) -> None:
    """The store's folders are 0700 and its files 0600."""
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"evidence")
    old = os.umask(0o022)
    try:
        stored = store_file(tmp_path / "files", source)
    finally:
        os.umask(old)
    paths = [p for p in (tmp_path / "files").rglob("*")]
    assert stored.sha256 and paths
    for path in [tmp_path / "files", *paths]:
        assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))


def test_symlinked_attachment_is_refused(tmp_path: Path) -> None:
    """`--attach link` where link -> a file elsewhere is a usage error; nothing is stored."""
    secret = tmp_path / "secret.txt"
    secret.write_text("secret", "utf-8")
    link = tmp_path / "innocent.jpg"
    link.symlink_to(secret)
    with pytest.raises(UsageError, match="symbolic link"):
        store_file(tmp_path / "files", link)
    assert not any((tmp_path / "files").rglob("*"))


def test_attachment_over_the_size_limit_is_refused(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over RECTIFY_MAX_ATTACHMENT_MB is a usage error before anything is copied."""
    monkeypatch.setenv("RECTIFY_MAX_ATTACHMENT_MB", "1")
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(2 << 20)
    with pytest.raises(UsageError, match="larger than 1 MB"):
        store_file(tmp_path / "files", big)
    assert not any((tmp_path / "files").rglob("*"))

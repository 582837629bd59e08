"""A real `rectify serve` on loopback for the web tests: a database made ready with the sample
org, the bundled rectification workflow, a few items and logins, and the server started as
a separate process (`python -m rectify.cli ... serve`) on a free port.

One server per test module (each start costs a second or two); a module's tests share its
database, so each test uses its own items and people where it changes anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from rectify.engine.app import identity
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import open_engine, upgrade, write
from rectify.engine.store.identity import set_password_hash
from rectify.workflows import HERE as WORKFLOWS

from .conftest import FIXTURES, PG_URL, START
from .seeding import fresh_database

PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    db: str
    service: Service
    files: Path
    tokens: dict[str, str] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)

    def client(self, person: str | None = None, **kwargs: object) -> httpx.Client:
        """An HTTP client, acting as `person` through their API token when given."""
        headers = {"Authorization": f"Bearer {self.tokens[person]}"} if person else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database(backend: str, folder: Path) -> Iterator[str]:
    """A new empty database: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    return fresh_database(backend, folder, PG_URL)


def prepare(url: str, files: Path) -> Service:
    """The sample org and workflow; items in two villages; passwords and tokens."""
    engine = open_engine(url)
    upgrade(engine)
    service = Service(engine, FixedClock(START), files_dir=files)
    service.load_org(FIXTURES / "org.yaml")
    service.load_workflow(WORKFLOWS / "rectification.yaml")
    # Hashed with light Argon2 parameters, which the hash carries: the server verifies them as
    # cheaply (rectify's own hashes take ~0.1 s of CPU each, on purpose).
    light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with write(engine) as conn:
        for person in ("zhang", "zhou", "li", "sun", "wang"):
            set_password_hash(conn, person, light.hash(PASSWORD), START)
    return service


def new_item(service: Service, unit: str, creator: str, assignee: str,
             description: str = "垃圾堆放") -> int:
    """An item in 整改中 (rectifying), assigned to `assignee`."""
    item = service.new_item(creator, "rectification", unit, assignee=assignee,
                            values={"description": description})
    service.advance(item, creator, "assign")
    return item


@contextmanager
def serve(url: str, files: Path, log: Path) -> Iterator[str]:
    """`rectify serve` at the fixed test time; yields its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "RECTIFY_FILES": str(files)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rectify.cli", "--db", url, "--now",
                                 START.isoformat(), "serve", "--port", str(port)],
                                stdout=out, stderr=out, env=env, cwd=log.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rectify serve exited: {log.read_text(errors='replace')}")
        try:
            httpx.get(base + "/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)  # waiting for a real process to start, not for simulated time
    raise RuntimeError(f"rectify serve did not answer: {log.read_text(errors='replace')}")


@contextmanager
def running(backend: str, folder: Path) -> Iterator[Server]:
    """Everything above: the database, the data, the server."""
    files = folder / "files"
    with database(backend, folder) as url:
        service = prepare(url, files)
        try:
            with serve(url, files, folder / "serve.log") as base:
                server = Server(base, url, service, files)
                for person in ("zhang", "zhou", "li", "sun", "wang"):
                    server.tokens[person] = identity.create_token(service, person)[1]
                server.items["a1"] = new_item(service, "village-a1", "li", "zhang")
                server.items["b1"] = new_item(service, "village-b1", "qian", "zhou")
                yield server
        finally:
            service.engine.dispose()

"""Where the application runs: the database, the clock, the settings file and the evidence store.

Every front end (the CLI, the scheduler, the web server) builds one `Runtime` from what it was
told (`--db`, `--now`, `--config`, `RECTIFY_FILES`) and takes its `Service` from it, so the rules
for finding the database, reading the clock and choosing the channels live in one place.
Everything is made when first asked for: `--help` and read-only commands pay for none of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ...engine.core.i18n import _

if TYPE_CHECKING:
    from ...notifications.notices import Notices
    from ..core.clock import Clock
    from ..settings import Settings
    from ..store.db import Engine
    from .service import Service


class Store(NamedTuple):
    """The database and the clock, for a command that calls no use case of the Service
    (`outbox dispatch`): importing the Service's modules (the workflow loader, the calendar,
    authority, the item store) costs a start-up a twentieth of a second. A Service has both."""

    engine: Engine
    clock: Clock


@dataclass
class Runtime:
    db: str
    now_text: str | None = None
    config: str | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _service: Service | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)

    def clock(self) -> Clock:
        from ..core.clock import FixedClock, SystemClock, parse_instant
        from ..core.errors import UsageError

        if not self.now_text:
            return SystemClock()
        try:
            return FixedClock(parse_instant(self.now_text))
        except ValueError as exc:
            raise UsageError(_("--now {now_text!r}: {reason}").format(
                                 now_text=self.now_text, reason=exc)) from exc

    def engine(self, *, create: bool = False) -> Engine:
        """The database; a SQLite file that is not there yet is made only when `create`
        (`rectify init`): a read command must not leave an empty rectify.db behind."""
        if self._engine is None:
            from ..core.errors import NotInitialised, UsageError
            from ..core.i18n import _
            from ..store.db import open_engine, sqlite_file

            path = sqlite_file(self.db)
            if path is not None and not create and not path.exists():
                raise NotInitialised(self.db, missing=True)
            if path is not None and not path.parent.is_dir():
                raise UsageError(_("--db {url}: the folder {folder} does not exist").format(
                    url=self.db, folder=path.parent))
            self._engine = open_engine(self.db)
        return self._engine

    def settings(self) -> Settings:
        if self._settings is None:
            from ..settings import load_settings

            path = Path(self.config) if self.config else Path("rectify.toml")
            self._settings = load_settings(path if (self.config or path.exists()) else None)
        return self._settings

    def store(self) -> Store:
        """The database, checked to be at the newest schema, and the clock; the settings are
        read, as for `service`."""
        from ..store.db import check_current

        check_current(self.engine())
        self.settings()  # read now: a bad settings file fails every command
        return Store(self.engine(), self.clock())

    def service(self, *, check: bool = True) -> Service:
        if self._service is None:
            from ..store.db import check_current
            from .service import Service

            if check:
                check_current(self.engine())
            engine, clock = self.engine(), self.clock()
            settings = self.settings()  # read now: a bad settings file fails every command

            def notices() -> Notices:  # made when first needed: read-only commands skip Jinja2
                from ...notifications.notices import Notices

                return Notices.from_settings(settings)

            # Several hosts on one PostgreSQL database share one evidence store (a network
            # folder) named by RECTIFY_FILES; by default it lies beside a SQLite file.
            files = os.environ.get("RECTIFY_FILES")
            self._service = Service(engine, clock, notices=notices,
                                    files_dir=Path(files) if files else None)
        return self._service

    def db_display(self) -> str:
        return self.engine().url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Give back the database's pooled connections now, not when the garbage collector
        finds the engine: a process that runs many commands (the scheduler, the tests that run
        the CLI in-process) would otherwise hold a connection per finished command."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine, self._service = None, None

"""One side of a race (tests/test_races.py): runs rounds of real `rectify` commands in this
process, each one released by a start signal, so two or more processes hit the database at the
same moment.

    python race_cli.py SYNC_DIR NAME PLAN_JSON

PLAN_JSON is a list of rounds; a round is the argument list of one `rectify` command. Before
round K this process creates SYNC_DIR/NAME-K.ready and waits for SYNC_DIR/go-K; then it runs the
command exactly as the console script would (`commands.support.run`: same exit code and stderr) and
prints one JSON line {"round", "code", "stdout", "stderr"}. Imports are paid before the first
signal, so the processes race on the database, not on start-up. The wait polls the file system;
it is synchronisation only.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
from pathlib import Path

WAIT_LIMIT_S = 120.0


def warm_up(args: list[str]) -> None:
    """Import what the commands use and open the database once."""
    import rectify.cli
    import rectify.commands.items
    import rectify.engine.app.service
    import rectify.engine.app.views
    import rectify.notifications.notices  # noqa: F401
    from alembic.runtime.migration import MigrationContext  # noqa: F401
    from alembic.script import ScriptDirectory  # noqa: F401
    from rectify.engine.store.db import open_engine

    if "--db" in args:
        engine = open_engine(args[args.index("--db") + 1])
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()


def run_rectify(args: list[str]) -> tuple[int, str, str]:
    """`rectify ARGS` as the console script runs it; an escaping exception is a traceback."""
    from rectify.cli import cli
    from rectify.commands.support import run

    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["rectify", *args]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(cli)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def main() -> None:
    sync, name, plan = Path(sys.argv[1]), sys.argv[2], json.loads(Path(sys.argv[3]).read_text())
    warm_up(plan[0])
    for k, args in enumerate(plan):
        (sync / f"{name}-{k}.ready").touch()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not (sync / f"go-{k}").exists():
            if time.monotonic() > deadline:
                sys.exit(f"race_cli {name}: no start signal for round {k}")
            time.sleep(0.0005)
        code, out, err = run_rectify(args)
        print(json.dumps({"round": k, "code": code, "stdout": out, "stderr": err},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()

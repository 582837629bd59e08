"""The front door's commands: `serve`, `user password`, `token create/revoke`.

Each command declares its own options here; cli.py registers them. The engine, uvicorn and the
web app are imported inside the commands, so `rectify --help` loads none of them.
"""

from __future__ import annotations

import os
import sys

import click

from ..engine.core.i18n import _
from .support import AppContext, echo_json, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (they share only the database and RECTIFY_FILES).")
@click.option("--proxy", "forwarded", default="127.0.0.1", show_default=True,
              help="Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed.")
@pass_app
def serve(app: AppContext, host: str, port: int, workers: int, forwarded: str) -> None:
    """Serve the pages for staff and the JSON API (uvicorn)."""
    import uvicorn

    from ..engine.store.db import check_current

    check_current(app.engine())  # a database that is not ready fails here, in one line
    app.settings()
    # The workers are fresh processes: they build their Runtime from these, as the CLI would.
    os.environ["RECTIFY_DB"] = app.db
    for name, value in (("RECTIFY_NOW", app.now_text), ("RECTIFY_CONFIG", app.config)):
        if value:
            os.environ[name] = value
    uvicorn.run("rectify.web.serve:app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, forwarded_allow_ips=forwarded, log_level="warning",
                access_log=False)


@click.command("password")
@click.argument("person")
@pass_app
def user_password(app: AppContext, person: str) -> None:
    """Set PERSON's password (read from stdin when it is not a terminal)."""
    from ..engine.app.identity import set_password

    person = app.names().person(person)  # before the prompt: a typo asks for no password
    if sys.stdin.isatty():
        password = click.prompt(_("password for {person}").format(person=person), hide_input=True,
                                confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    set_password(app.service(), person, password,
                 min_length=app.settings().web.min_password, actor_id=app.actor)
    if app.as_json:
        echo_json({"person": person, "password": "set"})
    else:
        click.echo(_("password set for {person}").format(person=person))


@click.command("create")
@click.argument("person")
@click.option("--name", help="What to call the token (default: PERSON-N).")
@pass_app
def token_create(app: AppContext, person: str, name: str | None) -> None:
    """Make an API token acting as PERSON; it is printed this once and never again."""
    from ..engine.app.identity import create_token

    person = app.names().person(person)
    name, secret = create_token(app.service(), person, name, actor_id=app.actor)
    if app.as_json:
        echo_json({"name": name, "person": person, "token": secret})
        return
    click.echo(secret)
    click.echo(_("token {name!r} for {person}: keep it secret; it is not shown "
                 "again").format(name=name, person=person),
               err=True)


@click.command("revoke")
@click.argument("name")
@pass_app
def token_revoke(app: AppContext, name: str) -> None:
    """Revoke the token called NAME (refused from the next request on)."""
    from ..engine.app.identity import revoke_token

    revoke_token(app.service(), name, actor_id=app.actor)
    if app.as_json:
        echo_json({"name": name, "revoked": True})
    else:
        click.echo(_("token {name!r} revoked").format(name=name))
